"""Test doubles shared by several test modules: tiny but real checkpoints, a fake Hugging Face Hub
on 127.0.0.1, and a hard-linked copy of a checkpoints folder. The fixtures that use them
(``ckpts``, ``fake_hub``, ``hf_env``, ``use_endpoint``) are in conftest.py.

The fake Hub serves one model repo the way the Hub does for huggingface_hub 2.x: the model-info and
tree APIs, HEAD/GET on /resolve/ (X-Repo-Commit, ETag, Content-Length; LFS files answer 302 to a
"CDN" on another origin with X-Linked-Etag / X-Linked-Size, as huggingface.co does) and the CDN. It
counts requests per path, and can hide files, corrupt bytes, or not exist at all.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections import Counter
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import torch
from PIL import Image

from fcn_demo.core import manifest
from fcn_demo.core.checkpoint import EpochRecord, TrainedOn, TrainingHistory
from fcn_demo.core.data import CLASSES
from fcn_demo.models import VARIANTS, build_model
from fcn_demo.training import publish
from fcn_demo.training.train import TrainConfig

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
        history(name, wall_time_s=123.4 + seed).write(vdir)
        Image.fromarray(rng.integers(0, 255, (8, 32, 3), dtype=np.uint8)).save(vdir / "replay_images.jpg")
        Image.fromarray(rng.integers(0, 3, (40, 32), dtype=np.uint8), mode="P").save(vdir / "replay_masks.png")
        models[name] = {"title": VARIANTS[name].title, **_metrics(rng)}
    ood_models = {n: {**m, **_metrics(rng)} for n, m in models.items()}
    metrics = metrics_json(models, ood_models)
    (root / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (root / "metrics.md").write_text("| model | mIoU |\n")
    publish.write_cards(root)
    manifest.write_manifest(root)
    return outputs


OOD_NAMES = ["Bombay_182", "British_Shorthair_102", "British_Shorthair_103"]
TRAINED_ON = TrainedOn(
    labelled_breeds={"Abyssinian": 90, "Bengal": 90, "american_bulldog": 90},
    labelled_images=270,
    unlabelled_photos=2040,
    unlabelled_breeds=["Bombay", "British_Shorthair", "beagle"],
    teacher="unet (sha256 0123456789ab)",
)


def history(name: str, *, wall_time_s: float = 123.4, trained_on: TrainedOn | None = TRAINED_ON,
            ood: bool = True, **overrides) -> TrainingHistory:  # fmt: skip
    """A made-up :class:`TrainingHistory` of 3 epochs (the best is the last), as train.py writes it.
    ``ood=False``, ``trained_on=None``: as histories from before those were recorded."""
    epochs = [EpochRecord(epoch=e, train_loss=None if e == 0 else 1 / e, lr=1e-4, elapsed_s=10.0 * e, val_loss=1.0,
                          val_pixel_acc=0.5, val_miou=0.2 + 0.1 * e, val_iou=[0.3, 0.3, 0.1],
                          ood_miou=0.15 + 0.1 * e if ood else None, ood_iou=[0.3, 0.2, 0.1] if ood else None)
              for e in range(4)]  # fmt: skip
    fields = dict(
        variant=name, classes=list(CLASSES), config=asdict(TrainConfig(variant=name, epochs=3)), train_images=270,
        val_images=IMAGE_NAMES * 7 + IMAGE_NAMES[:2], replay_images=IMAGE_NAMES, best_epoch=3, epochs=epochs,
        summary={"wall_time_s": wall_time_s, "train_images_per_s": 5.5, "device": "cpu", "autocast": "None",
                 "torch": torch.__version__, "cpu": "x86_64", "threads": 2},
        trained_on=trained_on, ood_images=OOD_NAMES if ood else [],
        selection="mean of val_miou and ood_miou" if ood else "val_miou",
    )  # fmt: skip
    return TrainingHistory(**{**fields, **overrides})


def metrics_json(models: dict, ood_models: dict | None = None) -> dict:
    """A checkpoints/metrics.json dict (as fcn_demo.training.evaluate writes it) around per-model ``models``
    (the test split) and ``ood_models`` (the out-of-distribution photos; None: no such section)."""
    metrics = {"split": "test", "images": 298, "breeds": {"Abyssinian": 98, "Bengal": 100, "american_bulldog": 100},
               "classes": list(CLASSES), "working_short_side": 256, "size_multiple": 32, "models": models}  # fmt: skip
    if ood_models is not None:
        metrics["ood"] = {"split": "ood", "images": len(OOD_NAMES), "names": OOD_NAMES,
                          "breeds": {"Bombay": 1, "British_Shorthair": 2}, "chose_epochs_of": list(ood_models),
                          "models": ood_models}  # fmt: skip
    return metrics


def _metrics(rng) -> dict:
    iou = [float(v) for v in rng.uniform(0.3, 0.95, 3)]
    return {"pixel_acc": float(rng.uniform(0.8, 0.95)), "mean_acc": float(rng.uniform(0.7, 0.9)),
            "miou": float(np.mean(iou)), "fwiou": float(rng.uniform(0.7, 0.9)), "iou": iou,
            "confusion": rng.integers(0, 1000, (3, 3)).tolist()}  # fmt: skip


def probe_input() -> torch.Tensor:
    return torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))


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


def start_server(hub_state: FakeHub) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"hub": hub_state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def link_or_copy(src, dst) -> None:
    """A hard link where the file system allows it (instant, no space), else a copy. To change a
    linked file, unlink it and write a new one: writing into it would change the original too."""
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(src: Path, dst: Path) -> Path:
    """``src`` copied to ``dst`` file by file with :func:`link_or_copy`."""
    shutil.copytree(src, dst, copy_function=link_or_copy)
    return dst
