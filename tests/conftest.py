"""Shared fixtures: small seeded CPU inputs, the dataset folder, the embedded checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fcn_demo.data import default_root

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"

# Two threads are all this machine (and CI) has; more would only oversubscribe.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = default_root()
    if not (root / "annotations" / "trainval.txt").exists():
        pytest.skip(f"Oxford-IIIT Pet not found at {root} (set FCN_DEMO_DATA)")
    return root


@pytest.fixture(scope="session")
def checkpoints() -> Path:
    if not (CHECKPOINTS / "metrics.json").exists():
        pytest.skip("no trained checkpoints in checkpoints/ (run python -m fcn_demo.train and .evaluate)")
    return CHECKPOINTS
