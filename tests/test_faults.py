"""Faults at start-up: weights missing or corrupt on disk or on the (fake) Hub.

The app must still start with the variants that are intact, say which ones are unavailable and why
(in the page and in the API's answer), and never load a file whose sha256 does not match its
manifest. Every test works on a hard-linked copy of the checkpoints in tmp_path; a damaged file is
unlinked and rewritten, never written through the link, and the real folder is verified at the end.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from fakes import link_tree

from fcn_demo.core import checkpoint, hub, manifest
from fcn_demo.core.samples import list_samples

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def source_untouched(app_checkpoints):
    """The checkpoints the copies are linked to still match their manifest after every test here."""
    yield
    if (app_checkpoints / manifest.MANIFEST_NAME).is_file():
        v = manifest.verify(app_checkpoints)
        assert v.ok, f"{app_checkpoints} was modified: {v.describe()}"


@pytest.fixture
def embedded(app_checkpoints, tmp_path) -> Path:
    """A hard-linked copy of the app's checkpoints (with a manifest, written if the source has none)."""
    root = link_tree(app_checkpoints, tmp_path / "checkpoints")
    if not (root / manifest.MANIFEST_NAME).is_file():  # throwaway checkpoints (no trained ones here)
        manifest.write_manifest(root)
    return root


@pytest.fixture
def reads(monkeypatch) -> list[tuple[Path, str]]:
    """Every weight file hub.load_models reads (through checkpoint.build_from_folder), with its sha256 at the moment it is read."""
    seen: list[tuple[Path, str]] = []
    real = checkpoint.load_model

    def spy(model, filename, *args, **kwargs):
        seen.append((Path(filename), manifest.sha256_file(filename)))
        return real(model, filename, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "load_model", spy)
    return seen


def corrupt(path: Path) -> None:
    """Flip one byte in the middle (tensor data for a safetensors file: it still loads, only the
    manifest can tell). Unlink first: ``path`` may be a hard link to the real file."""
    data = bytearray(path.read_bytes())
    path.unlink()
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def assert_all_verified(reads: list[tuple[Path, str]]) -> None:
    """Each file read matched the manifest of the folder it came from (embedded or Hub snapshot)."""
    assert reads, "no weights were read at all"
    for path, digest in reads:
        root = path.parent.parent
        expected = manifest.read_manifest(root / manifest.MANIFEST_NAME)[f"{path.parent.name}/{path.name}"]
        assert digest == expected, f"loaded {path} although its sha256 does not match {root}/SHA256SUMS"


def page_text(url: str) -> str:
    """The page's initial component values (what a visitor sees before doing anything)."""
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as r:
        return json.dumps(json.load(r))


def segment_sample(url: str):
    client = Client(url, verbose=False)
    return client.predict(handle_file(str(list_samples()[0].image)), api_name="/segment")


def test_corrupt_and_missing_weights_on_disk(embedded, reads, serve_app):
    corrupt(embedded / "fcn8s" / "model.safetensors")
    (embedded / "unet" / "model.safetensors").unlink()
    # The damage is invisible to the loader itself: only the sha256 check stands in the way.
    hub.build_from_folder(embedded / "fcn8s", "fcn8s")
    reads.clear()

    models = hub.load_models(config=hub.HubConfig(enabled=False), embedded_dir=embedded)
    assert [n for n, m in models.items() if m.model is not None] == ["fcn32s", "fcn16s"]
    assert "sha256 mismatch: fcn8s/model.safetensors" in models["fcn8s"].error
    assert "missing: unet/model.safetensors" in models["unet"].error
    assert_all_verified(reads)
    assert {p.parent.name for p, _ in reads} == {"fcn32s", "fcn16s"}

    url = serve_app(models)
    masks, summary = segment_sample(url)
    assert list(summary["models"]) == ["fcn32s", "fcn16s"] and len(masks) == 2
    assert "sha256 mismatch: fcn8s/model.safetensors" in summary["unavailable"]["fcn8s"]
    assert "missing: unet/model.safetensors" in summary["unavailable"]["unet"]
    page = page_text(url)
    assert "unavailable: " in page and "sha256 mismatch: fcn8s/model.safetensors" in page
    assert "missing: unet/model.safetensors" in page


def test_no_usable_weights_at_all(embedded, reads, serve_app):
    (embedded / manifest.MANIFEST_NAME).unlink()  # unverifiable = unusable, however intact the files are
    models = hub.load_models(config=hub.HubConfig(enabled=False), embedded_dir=embedded)
    assert all(m.model is None and "SHA256SUMS not found" in m.error for m in models.values())
    assert reads == []

    url = serve_app(models)  # still starts, and says why nothing works
    assert page_text(url).count("SHA256SUMS not found") >= len(models)
    with pytest.raises(AppError) as e:
        segment_sample(url)
    assert "No model weights could be loaded" in str(e.value) and "SHA256SUMS not found" in str(e.value)


@pytest.mark.usefixtures("hf_env")
def test_corrupt_and_missing_weights_on_the_hub(fake_hub, ckpts, use_endpoint, reads, serve_app, tmp_path):
    fake_hub.corrupt = {"fcn8s/model.safetensors"}  # served with one byte flipped
    fake_hub.hidden = {"unet/"}  # not in the Hub repo
    use_endpoint(fake_hub.url)
    embedded = link_tree(ckpts["embedded"], tmp_path / "embedded")
    corrupt(embedded / "unet" / "model.safetensors")  # and broken in the embedded copy too

    models = hub.load_models(embedded_dir=embedded)
    assert models["fcn32s"].source == models["fcn16s"].source == f"Hub {fake_hub.repo_id}@main"
    assert models["fcn8s"].source == "embedded: Hub copy rejected (sha256 mismatch: fcn8s/model.safetensors)"
    assert models["unet"].model is None and "sha256 mismatch: unet/model.safetensors" in models["unet"].error
    assert_all_verified(reads)
    assert [p.parent.parent == embedded for p, _ in reads] == [False, False, True]  # fcn8s: embedded copy

    url = serve_app(models)
    masks, summary = segment_sample(url)
    assert list(summary["models"]) == ["fcn32s", "fcn16s", "fcn8s"] and len(masks) == 3
    assert summary["models"]["fcn8s"]["weights"].startswith("embedded: Hub copy rejected (sha256 mismatch")
    assert "sha256 mismatch: unet/model.safetensors" in summary["unavailable"]["unet"]
    assert "sha256 mismatch: unet/model.safetensors" in page_text(url)
