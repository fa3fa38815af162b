"""The earlier rounds a model's weights come from, so the training replay can show all of them.

A later round of self-training starts each model from the epoch its previous round kept, so the
shipped weights' history is: the previous rounds' epochs up to the epoch each kept, then this
round's. ``history.json`` holds this round; ``lineage.json`` (epoch rows, each with its ``round``)
and ``lineage_masks.png`` (their replay predictions, one row of tiles an epoch, as in
``replay_masks.png`` without its ground-truth row) hold the rounds before. :func:`extend` writes
them when a round ends; :func:`replay_rows` and :func:`joined_history` join them with this round for
the replay and the curves.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from fcn_demo.core.checkpoint import HISTORY_NAME
from fcn_demo.core.data import mask_png

LINEAGE_ROWS = "lineage.json"
LINEAGE_MASKS = "lineage_masks.png"
REPLAY_MASKS = "replay_masks.png"


def _png_bytes(rows: np.ndarray, optimize: bool) -> bytes:
    buf = io.BytesIO()
    mask_png(rows).save(buf, format="PNG", optimize=optimize)
    return buf.getvalue()


def _png_rows(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)))


def extend(vdir: Path, previous: dict[str, bytes]) -> None:
    """Write ``vdir``'s lineage: the lineage in ``previous`` (the starting folder's files, by name)
    plus the starting round's own epochs up to the one it kept, numbered as the next round."""
    hist = json.loads(previous[HISTORY_NAME])
    rows = json.loads(previous[LINEAGE_ROWS]) if LINEAGE_ROWS in previous else []
    round_no = rows[-1]["round"] + 1 if rows else 1
    # A round that itself started from a lineage re-measured that lineage's last row as its epoch 0.
    first = 1 if rows else 0
    kept = hist["epochs"][first : hist["best_epoch"] + 1]
    replay = _png_rows(previous[REPLAY_MASKS])
    tile = replay.shape[0] // (len(hist["epochs"]) + 1)  # the ground truth row, then one an epoch
    masks = [_png_rows(previous[LINEAGE_MASKS])] if LINEAGE_MASKS in previous else []
    masks.append(replay[tile * (1 + first) : tile * (hist["best_epoch"] + 2)])
    (Path(vdir) / LINEAGE_ROWS).write_text(json.dumps(rows + [{**r, "round": round_no} for r in kept], indent=1))
    (Path(vdir) / LINEAGE_MASKS).write_bytes(_png_bytes(np.concatenate(masks, 0), optimize=True))


def joined_rows(folder: Path, epochs: list[dict], best_epoch: int) -> tuple[list[dict], int]:
    """The epoch rows of every round, numbered 0.. (each with its ``round`` and ``round_epoch``),
    and the saved epoch's number; ``epochs`` and ``best_epoch`` as they are without a lineage."""
    folder = Path(folder)
    if not (folder / LINEAGE_ROWS).exists():
        return epochs, best_epoch
    earlier = json.loads((folder / LINEAGE_ROWS).read_text())
    now = earlier[-1]["round"] + 1
    # This round's epoch 0 re-measures the weights the lineage's last row already shows.
    rows = earlier + [{**r, "round": now} for r in epochs[1:]]
    return [{**r, "round_epoch": r["epoch"], "epoch": i} for i, r in enumerate(rows)], len(earlier) - 1 + best_epoch


def round_of(folder: Path | None) -> int:
    """Which round of self-training made the weights in ``folder`` (1 without a lineage)."""
    if folder is None or not (Path(folder) / LINEAGE_ROWS).exists():
        return 1
    return json.loads((Path(folder) / LINEAGE_ROWS).read_text())[-1]["round"] + 1


def joined_history(folder: Path | None, history: dict) -> dict:
    """A history.json dict with the earlier rounds' epochs before its own (for the curves)."""
    if folder is None:
        return history
    rows, best = joined_rows(folder, history["epochs"], history["best_epoch"])
    keys = history["epochs"][0].keys()
    return {**history, "epochs": [{k: r.get(k) for k in keys} for r in rows], "best_epoch": best}


def replay_rows(folder: Path, epochs: list[dict], best_epoch: int) -> tuple[list[dict], int, bytes | None]:
    """:func:`joined_rows`, and the masks sprite (PNG bytes, the ground truth row first) of every
    round when ``folder`` has a lineage, else None (``replay_masks.png`` is used as it is)."""
    rows, best = joined_rows(folder, epochs, best_epoch)
    if rows is epochs:
        return epochs, best_epoch, None
    replay = _png_rows((Path(folder) / REPLAY_MASKS).read_bytes())
    tile = replay.shape[0] // (len(epochs) + 1)
    earlier = _png_rows((Path(folder) / LINEAGE_MASKS).read_bytes())
    # Built as the app starts: zlib's default effort, not optimize's 10x slower pass (about 10% larger).
    return rows, best, _png_bytes(np.concatenate([replay[:tile], earlier, replay[2 * tile :]], 0), optimize=False)
