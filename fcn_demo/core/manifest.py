"""The sha256 manifest of the checkpoints: ``checkpoints/SHA256SUMS``.

    python -m fcn_demo.core.manifest            # regenerate it after training / evaluation / cards
    python -m fcn_demo.core.manifest --check    # verify; exit status 1 and the list of bad files if any

The format is ``sha256sum``'s (``<hex>  <path>``, paths relative to the checkpoints folder), so
``cd checkpoints && sha256sum -c SHA256SUMS`` checks it too. It covers every file of every variant
folder plus ``metrics.json``: everything the app loads or shows. The same file is published with the
weights on the Hub, so a downloaded copy is checked against the manifest that was pushed with it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fcn_demo.core.data import REPO_ROOT
from fcn_demo.models import VARIANTS

CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
MANIFEST_NAME = "SHA256SUMS"
METRICS_NAME = "metrics.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weights are tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def manifest_paths(root: Path) -> list[str]:
    """The files the manifest covers, relative to ``root`` ('/'-separated, sorted): every file under
    each registered variant's folder, plus metrics.json when present."""
    root = Path(root)
    paths = [METRICS_NAME] if (root / METRICS_NAME).is_file() else []
    for name in VARIANTS:
        vdir = root / name
        if vdir.is_dir():
            # Dot-files are tool droppings (.DS_Store, .cache/ of HF local-dir downloads), never loaded.
            paths += [
                p.relative_to(root).as_posix()
                for p in vdir.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
            ]
    return sorted(paths)


def format_manifest(root: Path, paths: list[str]) -> str:
    """``sha256sum`` text for ``paths`` (relative to ``root``)."""
    return "".join(f"{sha256_file(Path(root) / p)}  {p}\n" for p in paths)


def write_manifest(root: Path = CHECKPOINTS_DIR) -> Path:
    """(Re)write ``root/SHA256SUMS`` over :func:`manifest_paths`; returns its path."""
    root = Path(root)
    paths = manifest_paths(root)
    if not paths:
        raise FileNotFoundError(f"{root}: no variant folders ({', '.join(VARIANTS)}) to cover; train first")
    out = root / MANIFEST_NAME
    out.write_text(format_manifest(root, paths))
    return out


def _safe_relpath(path: str) -> str:
    # The manifest may come from the network: a path must not reach outside the folder it describes.
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path or not p.parts:
        raise ValueError(f"unsafe path in manifest: {path!r}")
    return p.as_posix()


def parse_manifest(text: str) -> dict[str, str]:
    """``{relative path: sha256 hex}`` from ``sha256sum`` output (text or ``*`` binary mode)."""
    entries: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, path = line.partition("  ")
        if not sep:  # binary mode: "<hex> *<path>"
            digest, sep, path = line.partition(" *")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"line {n} is not '<sha256>  <path>': {line!r}")
        entries[_safe_relpath(path)] = digest
    return entries


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a manifest file; see :func:`parse_manifest`."""
    return parse_manifest(Path(path).read_text())


@dataclass
class Verification:
    """Result of checking files against a manifest."""

    checked: list[str] = field(default_factory=list)  # listed and present (match or not)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # on disk, not in the manifest (a stale manifest)

    @property
    def ok(self) -> bool:
        """Every listed file is present with the listed hash (unlisted files are never loaded, so
        they do not make a copy unusable)."""
        return bool(self.checked) and not self.mismatched and not self.missing

    def describe(self) -> str:
        """One line for logs and the UI, e.g. ``sha256 mismatch: fcn8s/model.safetensors``."""
        parts = []
        if self.mismatched:
            parts.append(f"sha256 mismatch: {', '.join(self.mismatched)}")
        if self.missing:
            parts.append(f"missing: {', '.join(self.missing)}")
        if self.unlisted:
            parts.append(f"not in manifest: {', '.join(self.unlisted)}")
        if not self.checked and not self.missing:
            parts.append("manifest lists no files here")
        return "; ".join(parts) or f"{len(self.checked)} files ok"


def verify(root: Path = CHECKPOINTS_DIR, manifest: Path | None = None, prefix: str = "") -> Verification:
    """Check the files under ``root`` against ``manifest`` (default ``root/SHA256SUMS``).

    ``prefix`` restricts the check to entries starting with it (e.g. ``"fcn8s/"``: one variant).
    A missing or unreadable manifest raises ``FileNotFoundError`` / ``ValueError``.
    """
    root = Path(root)
    manifest = Path(manifest) if manifest is not None else root / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: run `python -m fcn_demo.core.manifest` to write it")
    entries = {p: d for p, d in read_manifest(manifest).items() if p.startswith(prefix)}
    result = Verification()
    for rel, digest in sorted(entries.items()):
        path = root / rel
        if not path.is_file():
            result.missing.append(rel)
            continue
        result.checked.append(rel)
        if sha256_file(path) != digest:
            result.mismatched.append(rel)
    result.unlisted = [p for p in manifest_paths(root) if p.startswith(prefix) and p not in entries]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=CHECKPOINTS_DIR, help="checkpoints folder")
    p.add_argument("--check", action="store_true", help="verify instead of writing")
    args = p.parse_args(argv)
    if args.check:
        try:
            v = verify(args.root)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{args.root / MANIFEST_NAME}: {v.describe()}")
        return 0 if v.ok and not v.unlisted else 1
    absent = [n for n in VARIANTS if not (args.root / n).is_dir()]
    out = write_manifest(args.root)
    print(f"wrote {out} ({len(read_manifest(out))} files)")
    if absent:
        print(f"warning: no folder for {', '.join(absent)}", file=sys.stderr)
    if not (args.root / METRICS_NAME).is_file():
        print(f"warning: {METRICS_NAME} missing (python -m fcn_demo.training.evaluate)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
