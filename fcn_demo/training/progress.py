"""What a run keeps between epochs, commands and rounds: the epoch to keep (selection), the
previous round's files, and the state ``--resume`` continues from."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch


def selection_score(row: dict) -> float:
    """What picks the epoch to keep: the trainval carve-out and the unseen breeds count equally."""
    return row["val_miou"] if row.get("ood_miou") is None else (row["val_miou"] + row["ood_miou"]) / 2


def beats_its_start(epochs: list[dict]) -> bool:
    """Whether an epoch of a later round scores above epoch 0, the weights it started from, by
    :func:`selection_score`: if none does, the round made the model no better on validation."""
    return max(selection_score(r) for r in epochs[1:]) > selection_score(epochs[0])


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def keep_previous_round(vdir: Path, previous: dict[str, bytes]) -> None:
    """Put a previous round's files (:func:`folder_files`) back in ``vdir``, dropping this round's."""
    for p in vdir.iterdir():
        if p.is_file() and p.name not in previous:
            p.unlink()
    for name, data in previous.items():
        (vdir / name).write_bytes(data)


SELECTION = "mean of val_miou (seen breeds: the carve-outs) and ood_miou (unseen breeds: the out-of-distribution photos and the extra breeds held out whole)"


SELECTION_ALL_BREEDS = "mean of val_miou (seen breeds: the carve-outs) and ood_miou (unseen breeds: the out-of-distribution photos; every extra breed trained, --all-breeds)"


def progress_dir(out_dir: Path) -> Path:
    """Where a command keeps what ``--resume`` needs (beside the variants' folders, never in them)."""
    return Path(out_dir) / ".progress"


def rng_state(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "random": random.getstate()}  # fmt: skip


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])
