"""A model trained in rounds replays all of them: earlier rounds up to the epoch each kept, then this one."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from fcn_demo.core import lineage
from fcn_demo.core.data import CLASS_COLORS

TILE = 4


def sprite(values: list[int]) -> bytes:
    """A replay sprite as train.py writes it: one TILE-high row of tiles a value (row 0: the
    ground truth), each value written in class indices (its base-3 digits, 0..26)."""
    rows = np.zeros((TILE * len(values), 4 * TILE), dtype=np.uint8)
    for i, v in enumerate(values):
        rows[i * TILE : (i + 1) * TILE, :3] = [v % 3, v // 3 % 3, v // 9 % 3]
    img = Image.fromarray(rows, mode="P")
    img.putpalette([c for rgb in CLASS_COLORS for c in rgb])
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def history(n: int, best: int, base: float) -> dict:
    return {"best_epoch": best, "epochs": [{"epoch": e, "val_miou": base + e / 100} for e in range(n)]}


def row_values(png: bytes) -> list[int]:
    a = np.array(Image.open(io.BytesIO(png)))
    return [int(a[i * TILE, 0]) + 3 * int(a[i * TILE, 1]) + 9 * int(a[i * TILE, 2]) for i in range(a.shape[0] // TILE)]


def test_two_rounds_replay_as_one_history_up_to_the_epochs_kept(tmp_path):
    # Round 1: epochs 0..3, kept epoch 1 (rows: ground truth 0, then 10, 11, 12, 13).
    round1 = {"history.json": json.dumps(history(4, 1, 0.5)).encode(), "replay_masks.png": sprite([0, 10, 11, 12, 13])}
    lineage.extend(tmp_path, round1)
    # Round 2 starts from round 1's epoch 1; its own epochs 0..2 (rows 20, 21, 22), kept epoch 2.
    (tmp_path / "replay_masks.png").write_bytes(sprite([0, 20, 21, 22]))
    now = history(3, 2, 0.6)["epochs"]
    rows, best, png = lineage.replay_rows(tmp_path, now, 2)
    assert [(r["round"], r["round_epoch"]) for r in rows] == [(1, 0), (1, 1), (2, 1), (2, 2)]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3] and best == 3
    # Round 1's epochs after the one it kept (12, 13) are not in the weights' history, and round
    # 2's epoch 0 (20) re-measures round 1's epoch 1.
    assert row_values(png) == [0, 10, 11, 21, 22]

    # Round 3 starts from round 2's folder: its lineage grows by round 2's epochs up to its best.
    round2 = {n: (tmp_path / n).read_bytes() for n in ("lineage.json", "lineage_masks.png", "replay_masks.png")}
    round2["history.json"] = json.dumps({"best_epoch": 2, "epochs": now}).encode()
    later = tmp_path / "round3"
    later.mkdir()
    lineage.extend(later, round2)
    (later / "replay_masks.png").write_bytes(sprite([0, 24, 25]))
    rows, best, png = lineage.replay_rows(later, history(2, 1, 0.7)["epochs"], 1)
    assert [r["round"] for r in rows] == [1, 1, 2, 2, 3] and best == 4
    assert row_values(png) == [0, 10, 11, 21, 22, 25]  # round 2's epoch 0 only once, as round 1's epoch 1


def test_a_model_trained_in_one_round_replays_its_history_as_it_is(tmp_path):
    epochs = history(3, 1, 0.5)["epochs"]
    assert lineage.replay_rows(tmp_path, epochs, 1) == (epochs, 1, None)


def test_the_curves_get_every_round_with_the_history_s_own_keys(tmp_path):
    round1 = {"history.json": json.dumps(history(4, 1, 0.5)).encode(), "replay_masks.png": sprite([0, 10, 11, 12, 13])}
    lineage.extend(tmp_path, round1)
    now = {"variant": "fcn32s", **history(3, 2, 0.6)}
    joined = lineage.joined_history(tmp_path, now)
    assert [r["val_miou"] for r in joined["epochs"]] == [0.5, 0.51, 0.61, 0.62]
    assert [r["epoch"] for r in joined["epochs"]] == [0, 1, 2, 3] and joined["best_epoch"] == 3
    assert set(joined["epochs"][0]) == {"epoch", "val_miou"} and joined["variant"] == "fcn32s"
    assert lineage.joined_history(None, now) is now


def test_where_the_weights_came_from_counts_epochs_within_their_round(loaded_models):
    from fcn_demo.core.checkpoint import TrainingHistory
    from fcn_demo.page.views import provenance

    histories = {n: TrainingHistory.read(m.folder) for n, m in loaded_models.items()}
    rounds = {n: lineage.round_of(m.folder) for n, m in loaded_models.items()}
    assert lineage.round_of(None) == 1 and max(rounds.values()) >= 1
    page = provenance(loaded_models, histories)
    for n, h in histories.items():
        saved = f"{h.best_epoch} (round {rounds[n]})" if rounds[n] > 1 else f"<td>{h.best_epoch}</td>"
        assert saved in page, n
