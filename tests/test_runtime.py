"""Precision choice: the environment override, and the CPU probe deciding for itself."""

from __future__ import annotations

import pytest
import torch

from fcn_demo import runtime
from fcn_demo.runtime import PRECISION_ENV, autocast_dtype

CPU = torch.device("cpu")


@pytest.mark.parametrize(("value", "dtype"), [("fp32", None), ("bf16", torch.bfloat16), (" FP16 ", torch.float16)])
def test_precision_can_be_forced(monkeypatch, value, dtype):
    monkeypatch.setenv(PRECISION_ENV, value)
    assert autocast_dtype(CPU) is dtype


def test_unknown_precision_is_refused(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="auto, bf16, fp16, fp32"):
        autocast_dtype(CPU)


def test_auto_uses_bf16_on_cpu_only_where_the_probe_says_it_pays(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: True)
    for pays, expected in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(runtime, "_bf16_pays_off", lambda pays=pays: pays)
        assert autocast_dtype(CPU) is expected
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: False)
    assert autocast_dtype(CPU) is None  # no bf16 instructions: never probed, plain fp32


def test_the_probe_really_times_both_paths():
    runtime._bf16_pays_off.cache_clear()
    try:
        assert isinstance(runtime._bf16_pays_off(), bool)  # ran a real fp32 and bf16 conv, fwd + bwd
    finally:
        runtime._bf16_pays_off.cache_clear()
