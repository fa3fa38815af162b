"""Publishing the checkpoints: their model cards, and the upload to a Hugging Face Hub model repo.

    python -m fcn_demo.training.publish cards                      # checkpoints/<variant>/README.md + checkpoints/README.md
    python -m fcn_demo.training.publish push --repo-id ORG/NAME [--revision BRANCH] [--private] [--dry-run] [--out DIR]
    python -m fcn_demo.training.publish space --check               # the README's preload_from_hub = what push uploads

Run ``cards`` after ``python -m fcn_demo.training.train --model all`` and ``python -m fcn_demo.training.evaluate``, and
before ``python -m fcn_demo.core.manifest`` (the manifest covers the cards). Every card is rendered from one
Jinja template, ``templates/model_card.md``, with huggingface_hub's ``ModelCard.from_template`` (as
segmentation_models_pytorch's hub mixin does); every number in it is read from ``history.json``
(:class:`~fcn_demo.core.checkpoint.TrainingHistory`), ``config.json``, the header of ``model.safetensors``
or ``metrics.json``: nothing is typed in, so a card cannot drift from the weights it describes.

``push`` uploads exactly what :func:`stage` builds: the files ``SHA256SUMS`` lists, the manifest,
``metrics.md`` and the repo's top-level card. Then it pins the Space to that commit
(:func:`pin_space`): the README's front matter gets ``models`` and a ``preload_from_hub`` entry
listing every uploaded file the app pulls (:func:`preload_files`, by :func:`fcn_demo.core.hub.pull_patterns`)
at the commit the push made, and the app pulls that commit (:func:`fcn_demo.core.hub.space_pin`).
``space --check`` says whether the README's entry still lists what a push would upload. Pulling,
what the app does, is :mod:`fcn_demo.core.hub`'s job; this module runs only by hand, and only ``push``
touches the network.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import HfApi, metadata_load

from fcn_demo.core.hub import DEFAULT_REPO_ID, DEFAULT_REVISION, SPACE_README, HubConfig, pull_patterns
from fcn_demo.core.manifest import CHECKPOINTS_DIR, MANIFEST_NAME, read_manifest, verify
from fcn_demo.models import VARIANTS
from fcn_demo.training.cards import repo_card, write_cards

# --- the upload ---------------------------------------------------------------------------------


def published_files(root: Path) -> list[str]:
    """What a push uploads from ``root`` (besides the top-level card, rendered per repo), checked:
    the files the manifest lists, the manifest, and metrics.md. Refuses a checkpoints folder that
    fails its manifest or lacks a registered variant: what is published must be what the manifest
    describes."""
    root = Path(root)
    v = verify(root)
    if not v.ok or v.unlisted:
        raise ValueError(
            f"{root}: {v.describe()}; regenerate with `python -m fcn_demo.training.publish cards` + `python -m fcn_demo.core.manifest`"
        )
    entries = read_manifest(root / MANIFEST_NAME)
    absent = [n for n in VARIANTS if not any(p.startswith(f"{n}/") for p in entries)]
    if absent:
        raise ValueError(f"{root}: no files for {', '.join(absent)} in {MANIFEST_NAME}; train them first")
    return [*entries, MANIFEST_NAME] + (["metrics.md"] if (root / "metrics.md").is_file() else [])


def stage(root: Path, dest: Path, repo_id: str) -> list[str]:
    """Build in ``dest`` exactly what :func:`push` uploads (:func:`published_files` and the
    top-level card); returns the relative paths."""
    root, dest = Path(root), Path(dest)
    files = published_files(root)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    # Rendered for this repo id (root/README.md, if any, names the default repo).
    (dest / "README.md").write_text(repo_card(root, repo_id))
    return sorted([*files, "README.md"])


def preload_files(files: list[str]) -> list[str]:
    """Of the uploaded ``files``, those the app pulls (:func:`fcn_demo.core.hub.pull_patterns`, matched
    as snapshot_download matches them): what a Space preloads when it is built."""
    patterns = pull_patterns(list(VARIANTS))
    return sorted(f for f in files if any(fnmatch(f, p) for p in patterns))


def preload_line(files: list[str], repo_id: str, revision: str) -> str:
    """The ``preload_from_hub`` entry of a Space README for these uploaded files."""
    return f"  - {repo_id} {','.join(preload_files(files))} {revision}"


# Front matter keys pin_space writes, each with its "  - " lines.
_PINNED = re.compile(r"^(models|preload_from_hub):\n(?:  - .*\n)*", re.M)


def pin_space(readme: Path, repo_id: str, revision: str, files: list[str]) -> None:
    """Point the Space whose config is ``readme`` at ``repo_id`` at commit ``revision``: its front
    matter's ``models`` and ``preload_from_hub`` entries, replaced (the rest kept as it is)."""
    text = Path(readme).read_text()
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        raise ValueError(f"{readme} has no front matter")
    head, body = text[4:].split("\n---\n", 1)
    head = _PINNED.sub("", head + "\n").rstrip("\n")
    head += f"\nmodels:\n  - {repo_id}\npreload_from_hub:\n{preload_line(files, repo_id, revision)}"
    Path(readme).write_text(f"---\n{head}\n---\n{body}")


def check_space(readme: Path = SPACE_README, root: Path = CHECKPOINTS_DIR) -> list[str]:
    """What is wrong with the Space's pin in ``readme`` against a push of ``root`` now (empty: nothing;
    no pin at all is fine: the app then uses its embedded weights until the first push)."""
    meta = metadata_load(readme) or {}
    entries = meta.get("preload_from_hub") or []
    if not entries:
        return [] if not meta.get("models") else ["`models` names a repo, but nothing is preloaded from it"]
    problems = []
    want = preload_files(published_files(root))
    for entry in entries:
        repo_id, listed, revision = (str(entry).split() + ["", "", ""])[:3]
        if sorted(listed.split(",")) != want:
            missing, extra = sorted(set(want) - set(listed.split(","))), sorted(set(listed.split(",")) - set(want))
            problems.append(f"{repo_id}: preload_from_hub lacks {missing or 'nothing'}, has extra {extra or 'nothing'}")
        if not re.fullmatch(r"[0-9a-f]{40}", revision):
            problems.append(f"{repo_id}: preload_from_hub pins {revision!r}, not a commit sha")
        if repo_id not in (meta.get("models") or []):
            problems.append(f"{repo_id}: not in `models`")
    return problems


def push(root: Path, repo_id: str, revision: str | None = None, private: bool = False, dry_run: bool = False,
         out: Path | None = None, endpoint: str | None = None, readme: Path | None = SPACE_README) -> str | None:  # fmt: skip
    """Upload the staged folder to ``repo_id`` (creating the repo) and pin the Space's ``readme`` to
    the commit (None: leave it); returns the commit sha (None on a dry run)."""
    with tempfile.TemporaryDirectory(prefix="fcn-demo-stage-") as tmp:
        dest = Path(out) if out is not None else Path(tmp)
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"{dest} is not empty")
        files = stage(root, dest, repo_id)
        size = sum((dest / f).stat().st_size for f in files)
        print(f"staging folder {dest}: {len(files)} files, {size / 2**20:.1f} MiB")
        for f in files:
            print(f"  {(dest / f).stat().st_size:>12,}  {f}")
        if dry_run:
            print("\n--- README.md (top-level card) ---\n" + (dest / "README.md").read_text())
            print(
                f"Space preload_from_hub entry (pin the commit push prints):\n{preload_line(files, repo_id, '<commit>')}"
            )
            return None
        api = HfApi(endpoint=endpoint or HubConfig().endpoint)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and revision != DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=dest,
            revision=revision,
            commit_message="Upload fcn-demo checkpoints",
            delete_patterns=["*"],  # mirror the staging folder: no stale files from an older push
        )
        print(f"pushed {info.commit_url}")
        if readme is not None:
            pin_space(readme, repo_id, info.oid, files)
            print(f"pinned {readme} to it (models, preload_from_hub): commit it with the app")
        else:
            print(f"Space preload_from_hub entry:\n{preload_line(files, repo_id, info.oid)}")
        return info.oid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("cards", help="write the model cards from the checkpoint files and metrics.json")
    pc.add_argument("--repo-id", default=DEFAULT_REPO_ID, help="the repo the top-level card's example names")
    pp = sub.add_parser("push", help="upload the checkpoints to a Hub model repo")
    pp.add_argument("--repo-id", required=True, help="ORG/NAME")
    pp.add_argument("--revision", default=None, help="branch to push to (created if missing; default main)")
    pp.add_argument("--private", action="store_true")
    pp.add_argument("--dry-run", action="store_true", help="build the staging folder, print it, upload nothing")
    pp.add_argument("--out", type=Path, default=None, help="stage into this (empty) folder and keep it")
    pp.add_argument("--readme", type=Path, default=SPACE_README,
                    help="the Space README whose front matter is pinned to the pushed commit")  # fmt: skip
    pp.add_argument("--no-pin", action="store_true", help="leave the Space README as it is; print the entry")
    ps = sub.add_parser("space", help="the Space README's preload_from_hub entry against what push uploads")
    ps.add_argument("--check", action="store_true", help="exit 1 when the entry lists other files or no commit")
    ps.add_argument("--readme", type=Path, default=SPACE_README)
    for sp in (pc, pp, ps):
        sp.add_argument("--root", type=Path, default=CHECKPOINTS_DIR, help="checkpoints folder")
    args = p.parse_args(argv)
    try:
        if args.cmd == "cards":
            for path in write_cards(args.root, args.repo_id):
                print(f"wrote {path}")
            print(f"now refresh the manifest: python -m fcn_demo.core.manifest --root {args.root}")
        elif args.cmd == "push":
            readme = None if args.no_pin else args.readme
            push(args.root, args.repo_id, args.revision, args.private, args.dry_run, args.out, readme=readme)
        else:
            problems = check_space(args.readme, args.root)
            pin = "no preload_from_hub entry yet (push pins one)" if not (metadata_load(args.readme) or {}).get(
                "preload_from_hub") else "preload_from_hub lists what a push uploads and the app pulls"  # fmt: skip
            print("\n".join(problems) or f"{args.readme}: {pin}")
            return 1 if problems else 0
    except (OSError, KeyError, ValueError) as e:  # inputs not written yet, a stale manifest, a busy --out
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
