"""fcn_demo.core.hub against a fake Hugging Face Hub on 127.0.0.1: real HTTP, real huggingface_hub.

The fake (tests/fakes.py; fixtures ``ckpts``, ``fake_hub``, ``hf_env`` in conftest.py) serves one
model repo the way the Hub does for huggingface_hub 2.x, counts requests per path, and can hide
files, corrupt bytes, or not exist at all.
"""

from __future__ import annotations

import shutil
import socket
import time

import pytest
import torch
from fakes import COMMIT, REPO_ID, FakeHub, probe_input
from fakes import link_or_copy as _link_or_copy

from fcn_demo.core import hub
from fcn_demo.models import VARIANTS

torch.set_num_threads(1)  # a training run may own the other cores; also keeps outputs bit-stable

# A private HF cache and no inherited Hub settings, for every test here.
pytestmark = pytest.mark.usefixtures("hf_env")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_outputs(loaded: hub.LoadedModel, expected: torch.Tensor) -> None:
    p = next(loaded.model.parameters())
    assert p.dtype == torch.float32 and p.device.type == "cpu" and not loaded.model.training
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(probe_input())["out"], expected)


def _resolve_requests(state: FakeHub) -> int:
    return sum(n for (_, path), n in state.requests.items() if "/resolve/" in path or path.startswith("/lfs/"))


def test_downloads_every_variant_into_the_hf_cache(fake_hub, ckpts, use_endpoint, hf_env):
    use_endpoint(fake_hub.url)
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    assert list(models) == list(VARIANTS)
    for name, m in models.items():
        assert m.error is None and m.source == f"Hub {REPO_ID}@main", m.source
        assert m.folder == hf_env / "models--fake-org--fcn-demo" / "snapshots" / COMMIT / name
        assert (m.folder / "history.json").is_file() and (m.folder.parent / "metrics.json").is_file()
        _assert_outputs(m, ckpts["out_hub"][name])
        # each weight file crossed the wire once, from the CDN
        assert fake_hub.requests[("GET", f"/lfs/{fake_hub.sha256[f'{name}/model.safetensors']}")] == 1


def test_second_load_is_served_from_the_cache(fake_hub, ckpts, use_endpoint):
    use_endpoint(fake_hub.url)
    hub.load_models(embedded_dir=ckpts["embedded"])
    assert _resolve_requests(fake_hub) > 0
    fake_hub.requests.clear()
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    assert _resolve_requests(fake_hub) == 0, fake_hub.requests  # no file requested again
    for name, m in models.items():
        assert m.source == f"Hub {REPO_ID}@main"
        _assert_outputs(m, ckpts["out_hub"][name])


def test_offline_mode_uses_the_warm_cache_without_any_request(fake_hub, ckpts, use_endpoint, monkeypatch):
    use_endpoint(fake_hub.url)
    hub.load_models(["fcn8s", "unet"], embedded_dir=ckpts["embedded"])
    fake_hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    assert sum(fake_hub.requests.values()) == 0
    for name in ("fcn8s", "unet"):
        assert models[name].source.startswith(f"Hub {REPO_ID}@main (cached copy; offline"), models[name].source
        _assert_outputs(models[name], ckpts["out_hub"][name])
    # not in the cache: embedded, and the reason says why
    assert models["fcn32s"].source.startswith("embedded: Hub copy rejected (missing: fcn32s/")
    _assert_outputs(models["fcn32s"], ckpts["out_emb"]["fcn32s"])


def test_hub_token_goes_to_the_hub_but_not_to_the_cdn(fake_hub, ckpts, use_endpoint, monkeypatch):
    use_endpoint(fake_hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    assert hub.load_models(["fcn32s"], embedded_dir=ckpts["embedded"])["fcn32s"].source == f"Hub {REPO_ID}@main"
    hub_side = {auth for path, auth in fake_hub.auth if not path.startswith("/lfs/")}
    cdn_side = {auth for path, auth in fake_hub.auth if path.startswith("/lfs/")}
    assert hub_side == {"Bearer hf_fake_token_for_tests"} and cdn_side == {None}


def test_hub_down_with_a_warm_cache_uses_the_cache(fake_hub, ckpts, use_endpoint):
    use_endpoint(fake_hub.url)
    hub.load_models(["fcn16s"], embedded_dir=ckpts["embedded"])
    use_endpoint(f"http://127.0.0.1:{_dead_port()}")
    m = hub.load_models(["fcn16s"], embedded_dir=ckpts["embedded"])["fcn16s"]
    assert m.source.startswith(f"Hub {REPO_ID}@main (cached copy; Hub unreachable ("), m.source
    _assert_outputs(m, ckpts["out_hub"]["fcn16s"])


def test_server_down_falls_back_to_embedded(ckpts, use_endpoint):
    use_endpoint(f"http://127.0.0.1:{_dead_port()}")
    t0 = time.perf_counter()
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    assert time.perf_counter() - t0 < 10
    for name, m in models.items():
        assert m.source.startswith("embedded: Hub unreachable ("), m.source
        assert m.folder == ckpts["embedded"] / name
        _assert_outputs(m, ckpts["out_emb"][name])


def test_unknown_repo_404_falls_back_to_embedded(fake_hub, ckpts, use_endpoint, monkeypatch):
    use_endpoint(fake_hub.url)
    monkeypatch.setenv("FCN_DEMO_HUB_REPO", "fake-org/does-not-exist")
    models = hub.load_models(["fcn16s"], embedded_dir=ckpts["embedded"])
    m = models["fcn16s"]
    assert m.source == "embedded: repo fake-org/does-not-exist not found or not accessible (HTTP 404)"
    _assert_outputs(m, ckpts["out_emb"]["fcn16s"])
    assert _resolve_requests(fake_hub) == 0


def test_variant_missing_on_the_hub_falls_back_alone(fake_hub, ckpts, use_endpoint):
    use_endpoint(fake_hub.url)
    fake_hub.hidden = {"unet/"}
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    assert models["unet"].source.startswith("embedded: Hub copy rejected (missing: unet/README.md, unet/config.json")
    _assert_outputs(models["unet"], ckpts["out_emb"]["unet"])
    for name in ("fcn32s", "fcn16s", "fcn8s"):
        assert models[name].source == f"Hub {REPO_ID}@main"


def test_corrupt_download_is_rejected_evicted_and_healed(fake_hub, ckpts, use_endpoint):
    use_endpoint(fake_hub.url)
    fake_hub.corrupt = {"fcn8s/model.safetensors"}
    models = hub.load_models(embedded_dir=ckpts["embedded"])
    m = models["fcn8s"]
    assert m.source == "embedded: Hub copy rejected (sha256 mismatch: fcn8s/model.safetensors)"
    _assert_outputs(m, ckpts["out_emb"]["fcn8s"])  # the corrupt weights were not loaded
    assert models["fcn16s"].source == f"Hub {REPO_ID}@main"
    cached = models["fcn16s"].folder.parent / "fcn8s" / "model.safetensors"
    assert not cached.exists() and not cached.is_symlink()  # evicted: the next start downloads again
    fake_hub.corrupt = set()
    healed = hub.load_models(["fcn8s"], embedded_dir=ckpts["embedded"])["fcn8s"]
    assert healed.source == f"Hub {REPO_ID}@main"
    _assert_outputs(healed, ckpts["out_hub"]["fcn8s"])


def test_server_that_never_answers_is_given_up_on_quickly(ckpts, use_endpoint):
    with socket.socket() as silent:  # accepts connections (kernel backlog), never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        use_endpoint(f"http://127.0.0.1:{silent.getsockname()[1]}")
        t0 = time.perf_counter()
        models = hub.load_models(config=hub.HubConfig(timeout_s=1.0), embedded_dir=ckpts["embedded"])
        assert time.perf_counter() - t0 < 3
        assert models["fcn32s"].source == "embedded: Hub unreachable (no answer within 1 s)"
        _assert_outputs(models["fcn32s"], ckpts["out_emb"]["fcn32s"])
        # the overall budget holds even when a single request could wait much longer
        t0 = time.perf_counter()
        models = hub.load_models(["unet"], config=hub.HubConfig(timeout_s=30, budget_s=1.0),
                                 embedded_dir=ckpts["embedded"])  # fmt: skip
        assert time.perf_counter() - t0 < 2.5
        assert models["unet"].source == "embedded: Hub unreachable (no complete answer within 1 s)"
    defaults = hub.HubConfig()
    assert defaults.timeout_s <= defaults.budget_s <= 15


def test_hub_disabled_makes_no_request(fake_hub, ckpts, use_endpoint, monkeypatch):
    use_endpoint(fake_hub.url)
    monkeypatch.setenv("FCN_DEMO_HUB", "0")
    models = hub.load_models(["fcn32s"], embedded_dir=ckpts["embedded"])
    assert models["fcn32s"].source == "embedded: Hub disabled (FCN_DEMO_HUB=0)"
    assert sum(fake_hub.requests.values()) == 0


def test_variant_bad_everywhere_is_unavailable_and_the_rest_load(ckpts, use_endpoint, tmp_path):
    embedded = tmp_path / "embedded"
    shutil.copytree(ckpts["embedded"], embedded, copy_function=_link_or_copy)
    bad = embedded / "unet" / "model.safetensors"
    data = bytearray(bad.read_bytes())
    bad.unlink()  # a hard link: do not corrupt the shared fixture
    data[1000] ^= 1
    bad.write_bytes(bytes(data))
    use_endpoint(f"http://127.0.0.1:{_dead_port()}")
    models = hub.load_models(embedded_dir=embedded)
    assert models["unet"].model is None and models["unet"].folder is None and models["unet"].source == "unavailable"
    assert "Hub unreachable" in models["unet"].error
    assert "sha256 mismatch: unet/model.safetensors" in models["unet"].error
    for name in ("fcn32s", "fcn16s", "fcn8s"):
        _assert_outputs(models[name], ckpts["out_emb"][name])


def test_unknown_variant_name_raises(ckpts):
    with pytest.raises(KeyError, match="valid: fcn32s"):
        hub.load_models(["fcn99s"], config=hub.HubConfig(enabled=False), embedded_dir=ckpts["embedded"])
