"""fcn_demo.core.manifest: sha256sum-compatible manifest of the checkpoints folder."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fcn_demo.core import manifest


@pytest.fixture
def root(tmp_path):
    """A checkpoints-like folder: two variant folders, metrics.json, and things the manifest skips."""
    r = tmp_path / "checkpoints"
    for name, files in {
        "fcn32s": ["config.json", "model.safetensors"],
        "unet": ["config.json", "history.json"],
    }.items():
        (r / name).mkdir(parents=True)
        for f in files:
            (r / name / f).write_bytes(f"{name}/{f}".encode() * 100)
    (r / "fcn32s" / ".DS_Store").write_bytes(b"junk")
    (r / "metrics.json").write_text("{}")
    (r / "notes.txt").write_text("not covered: not a variant folder")
    (r / "not_a_variant").mkdir()
    (r / "not_a_variant" / "x.bin").write_bytes(b"x")
    return r


def test_manifest_covers_variant_files_and_metrics(root):
    out = manifest.write_manifest(root)
    assert out == root / "SHA256SUMS"
    assert list(manifest.read_manifest(out)) == [
        "fcn32s/config.json",
        "fcn32s/model.safetensors",
        "metrics.json",
        "unet/config.json",
        "unet/history.json",
    ]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_manifest_is_sha256sum_format(root):
    manifest.write_manifest(root)
    done = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_verify_catches_a_flipped_byte_a_missing_file_and_an_unlisted_one(root):
    manifest.write_manifest(root)
    assert manifest.verify(root).ok
    weights = root / "fcn32s" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[123] ^= 0x01
    weights.write_bytes(bytes(data))
    (root / "unet" / "history.json").unlink()
    (root / "unet" / "extra.txt").write_text("added after the manifest")
    v = manifest.verify(root)
    assert not v.ok
    assert v.mismatched == ["fcn32s/model.safetensors"]
    assert v.missing == ["unet/history.json"]
    assert v.unlisted == ["unet/extra.txt"]
    assert v.describe().startswith("sha256 mismatch: fcn32s/model.safetensors; missing: unet/history.json")
    # prefix: one variant at a time
    assert manifest.verify(root, prefix="unet/").mismatched == []
    assert manifest.verify(root, prefix="fcn32s/").mismatched == ["fcn32s/model.safetensors"]


def test_unlisted_file_fails_the_cli_check_but_not_loading(root, capsys):
    manifest.write_manifest(root)
    assert manifest.main(["--root", str(root), "--check"]) == 0
    (root / "unet" / "extra.txt").write_text("new")
    assert manifest.verify(root).ok  # nothing listed is wrong, so the files still load
    assert manifest.main(["--root", str(root), "--check"]) == 1
    assert "not in manifest: unet/extra.txt" in capsys.readouterr().out
    assert manifest.main(["--root", str(root)]) == 0  # regenerate
    assert manifest.main(["--root", str(root), "--check"]) == 0


def test_missing_manifest_says_how_to_fix_it(root):
    with pytest.raises(FileNotFoundError, match="python -m fcn_demo.core.manifest"):
        manifest.verify(root)


@pytest.mark.parametrize(
    "line",
    [
        f"{'0' * 64}  ../outside.txt",
        f"{'0' * 64}  /etc/passwd",
        f"{'0' * 63}  fcn32s/config.json",
        "fcn32s/config.json",
    ],
)
def test_parse_rejects_unsafe_or_malformed_lines(line):
    with pytest.raises(ValueError):
        manifest.parse_manifest(line + "\n")


def test_parse_accepts_binary_mode_lines():
    assert manifest.parse_manifest(f"{'A' * 64} *fcn32s/model.safetensors\n") == {"fcn32s/model.safetensors": "a" * 64}
