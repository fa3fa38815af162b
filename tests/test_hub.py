"""fcn_demo.hub against a fake Hugging Face Hub on 127.0.0.1: real HTTP, real huggingface_hub.

The fake serves one model repo the way the Hub does for huggingface_hub 2.x: the model-info and
tree APIs, HEAD/GET on /resolve/ (X-Repo-Commit, ETag, Content-Length; LFS files answer 302 to a
"CDN" on another origin with X-Linked-Etag / X-Linked-Size, as huggingface.co does) and the CDN. It
counts requests per path, and can hide files, corrupt bytes, or not exist at all.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from fcn_demo import cards, hub, manifest
from fcn_demo.data import CLASSES
from fcn_demo.models import VARIANTS, build_model
from fcn_demo.train import TrainConfig

torch.set_num_threads(1)  # a training run may own the other cores; also keeps outputs bit-stable

REPO_ID = "fake-org/fcn-demo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Narrow heads keep the files at the VGG16 backbone's ~29 MB (fp16) each.
SMALL = {"fcn32s": {"fc_channels": 8}, "fcn16s": {"fc_channels": 8}, "fcn8s": {"fc_channels": 8},
         "unet": {"center_channels": 8, "decoder_channels": [8, 8, 8, 8]}}  # fmt: skip
IMAGE_NAMES = ["Abyssinian_1", "Bengal_100", "american_bulldog_10", "Abyssinian_20"]


# --- tiny but real checkpoints ------------------------------------------------------------------


def write_checkpoints(root: Path, seed: int) -> dict[str, torch.Tensor]:
    """Randomly initialised variants saved as train.py does (fp16 safetensors + config.json), with
    a made-up history, replay, metrics.json, cards and manifest. Returns each model's output on
    :func:`probe_input`, computed from the in-memory model (not from the files)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    outputs, models = {}, {}
    for name in VARIANTS:
        vdir = root / name
        model = build_model(name, **SMALL[name]).half()
        model.save_pretrained(vdir)
        # The reference: a float32 model holding the fp16 weights (its non-persistent buffers, the
        # input mean/std, stay exact as in any freshly built model).
        ref = build_model(name, **SMALL[name]).eval()
        ref.load_state_dict(model.state_dict())
        with torch.inference_mode():
            outputs[name] = ref(probe_input())["out"]
        epochs = [{"epoch": e, "train_loss": None if e == 0 else 1 / e, "lr": 1e-4, "elapsed_s": 10.0 * e,
                   "val_loss": 1.0, "val_pixel_acc": 0.5, "val_miou": 0.2 + 0.1 * e, "val_iou": [0.3, 0.3, 0.1]}
                  for e in range(4)]  # fmt: skip
        history = {
            "variant": name, "classes": list(CLASSES), "config": asdict(TrainConfig(variant=name, epochs=3)),
            "train_images": 270, "val_images": IMAGE_NAMES * 7 + IMAGE_NAMES[:2], "replay_images": IMAGE_NAMES,
            "best_epoch": 3, "epochs": epochs,
            "summary": {"wall_time_s": 123.4 + seed, "train_images_per_s": 5.5, "device": "cpu",
                        "autocast": "None", "torch": torch.__version__, "cpu": "x86_64", "threads": 2},
        }  # fmt: skip
        (vdir / "history.json").write_text(json.dumps(history))
        Image.fromarray(rng.integers(0, 255, (8, 32, 3), dtype=np.uint8)).save(vdir / "replay_images.jpg")
        Image.fromarray(rng.integers(0, 3, (40, 32), dtype=np.uint8), mode="P").save(vdir / "replay_masks.png")
        models[name] = {"title": VARIANTS[name].title, **_metrics(rng)}
    metrics = {"split": "test", "images": 298, "classes": list(CLASSES), "working_short_side": 256, "models": models}
    (root / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (root / "metrics.md").write_text("| model | mIoU |\n")
    cards.write_cards(root)
    manifest.write_manifest(root)
    return outputs


def _metrics(rng) -> dict:
    iou = [float(v) for v in rng.uniform(0.3, 0.95, 3)]
    return {"pixel_acc": float(rng.uniform(0.8, 0.95)), "mean_acc": float(rng.uniform(0.7, 0.9)),
            "miou": float(np.mean(iou)), "fwiou": float(rng.uniform(0.7, 0.9)), "iou": iou}  # fmt: skip


def probe_input() -> torch.Tensor:
    return torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory) -> dict:
    """Two different sets of checkpoints: what is published on the (fake) Hub, and the embedded copy."""
    base = tmp_path_factory.mktemp("ckpts")
    hub_src, embedded, staged = base / "published", base / "embedded", base / "staged"
    out_hub = write_checkpoints(hub_src, seed=1)
    out_emb = write_checkpoints(embedded, seed=2)
    hub.stage(hub_src, staged, REPO_ID)  # the fake Hub serves exactly what `push` would upload
    return {"hub_src": hub_src, "embedded": embedded, "staged": staged, "out_hub": out_hub, "out_emb": out_emb}


# --- the fake Hub -------------------------------------------------------------------------------


class FakeHub:
    """State shared by the API/resolve server and the "CDN" server."""

    def __init__(self, folder: Path, repo_id: str = REPO_ID) -> None:
        self.repo_id = repo_id
        self.files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
        self.sha256 = {rel: hashlib.sha256(p.read_bytes()).hexdigest() for rel, p in self.files.items()}
        self.requests: Counter[tuple[str, str]] = Counter()
        self.auth: list[tuple[str, str | None]] = []  # (path, Authorization header) per request
        self.hidden: set[str] = set()  # path prefixes the repo does not have
        self.corrupt: set[str] = set()  # files served with one byte flipped (same length)
        self.cdn_url = ""
        self.url = ""

    def visible(self) -> list[str]:
        return [f for f in self.files if not any(f.startswith(h) for h in self.hidden)]

    def content(self, rel: str) -> bytes:
        data = bytearray(self.files[rel].read_bytes())
        if rel in self.corrupt:
            data[len(data) // 2] ^= 0xFF
        return bytes(data)


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _send(self, status: int, headers: dict[str, str], data: bytes = b"", body: bool = True) -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if body and data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, body: bool) -> None:
        data = json.dumps({"error": code}).encode()
        self._send(status, {"X-Error-Code": code, "X-Repo-Commit": COMMIT, "Content-Type": "application/json"},
                   data, body)  # fmt: skip

    def _json(self, obj, body: bool) -> None:
        self._send(200, {"Content-Type": "application/json"}, json.dumps(obj).encode(), body)

    def _serve(self, body: bool) -> None:
        hub = self.hub
        path = unquote(urlsplit(self.path).path)
        hub.requests[(self.command, path)] += 1
        hub.auth.append((path, self.headers.get("Authorization")))
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)(/.*)?", path):
            repo, kind, rev = m.group(1), m.group(2), m.group(3)
            if repo != hub.repo_id:
                return self._error(404, "RepoNotFound", body)
            if rev not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", body)
            files = hub.visible()
            if kind == "revision":
                return self._json({"id": repo, "sha": COMMIT, "private": False,
                                   "siblings": [{"rfilename": f} for f in files]}, body)  # fmt: skip
            tree = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d}
                    for d in sorted({f.rsplit("/", 1)[0] for f in files if "/" in f})]  # fmt: skip
            for f in files:
                data = hub.files[f].read_bytes()
                entry = {"type": "file", "oid": _git_sha1(data), "size": len(data), "path": f}
                if f.endswith(".safetensors"):
                    entry["lfs"] = {"oid": hub.sha256[f], "size": len(data), "pointerSize": 134}
                tree.append(entry)
            return self._json(tree, body)
        if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            repo, rev, rel = m.groups()
            if repo != hub.repo_id:
                return self._error(404, "RepoNotFound", body)
            if rev not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", body)
            if rel not in hub.visible():
                return self._error(404, "EntryNotFound", body)
            if rel.endswith(".safetensors"):  # LFS: redirect to the CDN, metadata on the redirect
                size = str(hub.files[rel].stat().st_size)
                return self._send(302, {"Location": f"{hub.cdn_url}/lfs/{hub.sha256[rel]}", "X-Repo-Commit": COMMIT,
                                        "X-Linked-Etag": f'"{hub.sha256[rel]}"', "X-Linked-Size": size}, b"", body)  # fmt: skip
            data = hub.content(rel)
            return self._send(200, {"ETag": f'"{_git_sha1(hub.files[rel].read_bytes())}"', "X-Repo-Commit": COMMIT},
                              data, body)  # fmt: skip
        if m := re.fullmatch(r"/lfs/([0-9a-f]{64})", path):
            rel = next((f for f, d in hub.sha256.items() if d == m.group(1)), None)
            if rel is not None:
                return self._send(200, {"ETag": f'"{m.group(1)}"'}, hub.content(rel), body)
        return self._error(404, "NotFound", body)


def _start(hub_state: FakeHub) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"hub": hub_state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def fake_hub(ckpts):
    """The fake Hub (API + resolve) and its CDN, each on its own 127.0.0.1 port."""
    state = FakeHub(ckpts["staged"])
    api, cdn = _start(state), _start(state)
    state.cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}"
    state.url = f"http://127.0.0.1:{api.server_address[1]}"
    yield state
    for s in (api, cdn):
        s.shutdown()
        s.server_close()


@pytest.fixture(autouse=True)
def hf_env(tmp_path, monkeypatch):
    """A private HF cache and no inherited Hub settings; HubConfig reads these when created."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                "FCN_DEMO_HUB", "FCN_DEMO_HUB_REPO", "FCN_DEMO_HUB_REVISION", "HF_HUB_ETAG_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("FCN_DEMO_HUB_REPO", REPO_ID)
    return tmp_path / "hf" / "hub"


@pytest.fixture
def use_endpoint(monkeypatch):
    def set_url(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)

    return set_url


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


# --- pull ---------------------------------------------------------------------------------------


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


def _link_or_copy(src, dst):
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def test_unknown_variant_name_raises(ckpts):
    with pytest.raises(KeyError, match="valid: fcn32s"):
        hub.load_models(["fcn99s"], config=hub.HubConfig(enabled=False), embedded_dir=ckpts["embedded"])


# --- publish ------------------------------------------------------------------------------------


def test_dry_run_stages_the_published_folder_and_card(ckpts, tmp_path, capsys):
    out = tmp_path / "stage"
    assert hub.push(ckpts["hub_src"], "some-org/fcn-demo", dry_run=True, out=out) is None
    printed = capsys.readouterr().out
    entries = manifest.read_manifest(ckpts["hub_src"] / "SHA256SUMS")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted([*entries, "SHA256SUMS", "metrics.md", "README.md"])
    for v in VARIANTS:
        assert {f"{v}/{f}" for f in ("config.json", "model.safetensors", "history.json", "README.md",
                                     "replay_images.jpg", "replay_masks.png")} <= set(files)  # fmt: skip
    assert manifest.verify(out).ok  # the staged copy matches the manifest it ships with
    card = (out / "README.md").read_text()
    assert card in printed and "some-org/fcn-demo" in card and "preload_from_hub" in printed
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "cc-by-sa-4.0" and front["pipeline_tag"] == "image-segmentation"
    assert front["datasets"] == ["oxford-iiit-pet"] and front["library_name"] == "fcn-demo"
    metrics = json.loads((ckpts["hub_src"] / "metrics.json").read_text())
    assert [e["name"] for e in front["model-index"]] == [VARIANTS[v].title for v in VARIANTS]
    for entry, m in zip(front["model-index"], metrics["models"].values()):
        got = {x["type"]: x["value"] for x in entry["results"][0]["metrics"] if x["type"] != "iou"}
        assert got == {"mean_iou": round(m["miou"], 4), "overall_accuracy": round(m["pixel_acc"], 4),
                       "mean_accuracy": round(m["mean_acc"], 4), "frequency_weighted_iou": round(m["fwiou"], 4)}  # fmt: skip
        ious = [x["value"] for x in entry["results"][0]["metrics"] if x["type"] == "iou"]
        assert ious == [round(v, 4) for v in m["iou"]]


def test_stage_refuses_files_that_fail_the_manifest(ckpts, tmp_path):
    root = tmp_path / "ckpts"
    shutil.copytree(ckpts["hub_src"], root, copy_function=_link_or_copy)
    hist = root / "fcn16s" / "history.json"
    text = hist.read_text()
    hist.unlink()
    hist.write_text(text.replace('"best_epoch": 3', '"best_epoch": 2'))
    with pytest.raises(ValueError, match="sha256 mismatch: fcn16s/history.json"):
        hub.stage(root, tmp_path / "out", REPO_ID)
