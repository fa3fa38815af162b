"""fcn_demo.cards: every number in a card comes from the files next to it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
import torch
import yaml
from fakes import metrics_json
from safetensors.torch import save_file

from fcn_demo import cards
from fcn_demo.data import CLASSES
from fcn_demo.train import recipe_config

NAMES = ["Abyssinian_1", "Bengal_101", "american_bulldog_12"]


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.fixture
def root(tmp_path):
    """Files as train.py / evaluate.py write them, with a stand-in model.safetensors (the cards
    read only its header)."""
    r = tmp_path / "checkpoints"
    models = {}
    for i, name in enumerate(["fcn32s", "unet"]):
        v = r / name
        v.mkdir(parents=True)
        save_file({"a.weight": torch.zeros(3, 5, dtype=torch.float16), "b.bias": torch.zeros(7, dtype=torch.float16)},
                  v / "model.safetensors")  # fmt: skip
        (v / "config.json").write_text(json.dumps({"num_classes": 3, "stride": 32}))
        history = {
            "variant": name, "classes": list(CLASSES),
            "config": asdict(recipe_config(name)),
            "train_images": 270, "val_images": NAMES * 10, "replay_images": NAMES[:2], "best_epoch": 2,
            "epochs": [{"epoch": e, "val_miou": 0.5 + 0.01 * e} for e in range(5)],
            "summary": {"wall_time_s": 1234.5 + i, "train_images_per_s": 6.78, "device": "cpu", "autocast": "None",
                        "torch": "2.x", "cpu": "x86_64", "threads": 2},
        }  # fmt: skip
        (v / "history.json").write_text(json.dumps(history))
        models[name] = {"title": {"fcn32s": "FCN-32s", "unet": "U-Net"}[name], "pixel_acc": 0.912345 + i / 100,
                        "mean_acc": 0.876543, "miou": 0.765432 + i / 100, "fwiou": 0.854321,
                        "iou": [0.9, 0.8, float("nan") if i else 0.456789]}  # fmt: skip
    metrics = metrics_json(models)
    (r / "metrics.json").write_text(json.dumps(metrics))
    return r


def test_front_matter_and_model_index_come_from_metrics_json(root):
    card = cards.variant_card(root, "fcn32s")
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-sa-4.0"
    assert meta["datasets"] == ["oxford-iiit-pet"]
    assert meta["pipeline_tag"] == "image-segmentation" and meta["library_name"] == "fcn-demo"
    assert {"semantic-segmentation", "fcn"} <= set(meta["tags"])
    (entry,) = meta["model-index"]
    assert entry["name"] == "FCN-32s"
    result = entry["results"][0]
    assert result["task"]["type"] == "image-segmentation" and result["dataset"]["type"] == "oxford-iiit-pet"
    got = {(m["type"], m.get("config")): m["value"] for m in result["metrics"]}
    assert got == {("mean_iou", None): 0.7654, ("overall_accuracy", None): 0.9123, ("mean_accuracy", None): 0.8765,
                   ("frequency_weighted_iou", None): 0.8543, ("iou", "background"): 0.9, ("iou", "pet"): 0.8,
                   ("iou", "border"): 0.4568}  # fmt: skip


def test_body_has_attribution_training_and_metrics_from_the_files(root):
    card = cards.variant_card(root, "fcn32s")
    for text in [
        "Parkhi",
        '"Cats and Dogs", CVPR 2012',
        "CC BY-SA 4.0",
        "copyright of the images stays",
        "Abyssinian, Bengal, american_bulldog",  # from the image names in history.json
        "300 trainval images (270 for training, 30 held",
        "298 test images",
        "python -m fcn_demo.train --model all\n",  # default flags: nothing appended
        "Best epoch 2 of 4 (validation mIoU 52.0%)",
        "1234 s (20.6 min)",
        "6.78 training images/s",
        "| `head_lr` | `0.001` |",
        "| `class_weights` | `[1.0, 1.0, 1.5]` |",
        "Parameters: 22 (",  # 3*5 + 7, from the safetensors header
        "| **FCN-32s** | **91.2** | **87.7** | **76.5** | **85.4** | **90.0** | **80.0** | **45.7** |",
        "| U-Net | 92.2 | 87.7 | 77.5 | 85.4 | 90.0 | 80.0 | n/a |",
    ]:
        assert text in card, text
    assert "/shared/oxford-iiit-pet" not in card  # the local data path is not published


def test_card_follows_the_files(root):
    hist_path = root / "unet" / "history.json"
    h = json.loads(hist_path.read_text())
    h["summary"]["wall_time_s"] = 4321.0
    h["config"]["epochs"] = 5
    h["config"]["init"] = "imagenet"
    hist_path.write_text(json.dumps(h))
    card = cards.variant_card(root, "unet")
    assert "4321 s (72.0 min)" in card
    assert "python -m fcn_demo.train --model all --epochs 5 --init imagenet" in card
    iou = {m.get("config"): m["value"] for m in _front_matter(card)["model-index"][0]["results"][0]["metrics"]
           if m["type"] == "iou"}  # fmt: skip
    assert iou == {"background": 0.9, "pet": 0.8}  # NaN (class never seen) left out
    assert "staged training" not in card and "trained FCN-8s (its encoder; the decoder from scratch" in card


def test_write_cards_and_repo_card(root):
    written = cards.write_cards(root)
    assert written == [root / "fcn32s" / "README.md", root / "unet" / "README.md"]
    assert _front_matter(written[1].read_text())["model-index"][0]["name"] == "U-Net"
    top = cards.repo_card(root, "org/name")
    meta = _front_matter(top)
    assert [e["name"] for e in meta["model-index"]] == ["FCN-32s", "U-Net"]
    assert 'HubConfig(repo_id="org/name"' in top and "SHA256SUMS" in top


def test_missing_inputs_say_what_to_run(root):
    (root / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="python -m fcn_demo.evaluate"):
        cards.variant_card(root, "fcn32s")
    with pytest.raises(FileNotFoundError, match="python -m fcn_demo.train"):
        cards.read_facts(root, "fcn16s", metrics={"models": {}})


def test_nan_is_not_a_number_in_the_card():
    assert cards._pct(float("nan")) == "n/a" and not cards._finite(math.inf)
