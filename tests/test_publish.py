"""fcn_demo.training.publish: the model cards come from one template and every number in them from the
files next to them (history.json, config.json, the safetensors header, metrics.json)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from fakes import COMMIT, REPO_ID, TRAINED_ON, history, link_tree, metrics_json
from huggingface_hub import metadata_load
from safetensors.torch import save_file

from fcn_demo.core import hub, manifest
from fcn_demo.core.data import REPO_ROOT
from fcn_demo.models import VARIANTS
from fcn_demo.training import card_facts, cards, publish
from fcn_demo.training.config import recipe_config

TITLES = {"fcn32s": "FCN-32s", "unet": "U-Net"}


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def _entry(i: int, name: str, nan: bool) -> dict:
    return {"title": TITLES[name], "pixel_acc": 0.912345 + i / 100, "mean_acc": 0.876543, "miou": 0.765432 + i / 100,
            "fwiou": 0.854321, "iou": [0.9, 0.8, float("nan") if nan else 0.456789],
            "working_short_side": 256, "size_multiple": 32, "confusion": [[9, 1, 0], [1, 8, 1], [0, 2, 5]]}  # fmt: skip


@pytest.fixture
def root(tmp_path):
    """Files as train.py / evaluate.py write them, with a stand-in model.safetensors (the cards
    read only its header)."""
    r = tmp_path / "checkpoints"
    models, ood = {}, {}
    for i, name in enumerate(["fcn32s", "unet"]):
        v = r / name
        v.mkdir(parents=True)
        save_file({"a.weight": torch.zeros(3, 5, dtype=torch.float16), "b.bias": torch.zeros(7, dtype=torch.float16)},
                  v / "model.safetensors")  # fmt: skip
        (v / "config.json").write_text(json.dumps({"num_classes": 3, "stride": 32}))
        history(name, wall_time_s=1234.5 + i, config={**vars(recipe_config(name, start="checkpoints")), "class_weights": [1.0, 1.0, 1.5]},
                best_epoch=2, summary={"wall_time_s": 1234.5 + i, "train_images_per_s": 6.78, "device": "cpu",
                                       "autocast": "None", "torch": "2.x", "cpu": "x86_64", "threads": 2}).write(v)  # fmt: skip
        models[name] = _entry(i, name, nan=bool(i))
        ood[name] = {**_entry(i, name, nan=False), "miou": 0.612345 + i / 10, "pixel_acc": 0.801 + i / 100}
    (r / "metrics.json").write_text(json.dumps(metrics_json(models, ood)))
    return r


def _metric_values(card: str, split: str) -> dict:
    (entry,) = _front_matter(card)["model-index"]
    (result,) = [r for r in entry["results"] if r["dataset"]["split"] == split]
    return {(m["type"], m.get("config")): m["value"] for m in result["metrics"]}


def test_front_matter_and_model_index_come_from_metrics_json(root):
    card = cards.variant_card(root, "fcn32s")
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-sa-4.0"
    assert meta["datasets"] == ["oxford-iiit-pet"]
    assert meta["pipeline_tag"] == "image-segmentation" and meta["library_name"] == "fcn-demo"
    assert {"semantic-segmentation", "fcn", "semi-supervised"} <= set(meta["tags"])
    (entry,) = meta["model-index"]
    assert entry["name"] == "FCN-32s"
    assert [r["dataset"]["split"] for r in entry["results"]] == ["test", "ood"]
    result = entry["results"][0]
    assert result["task"]["type"] == "image-segmentation" and result["dataset"]["type"] == "oxford-iiit-pet"
    assert _metric_values(card, "test") == {
        ("mean_iou", None): 0.7654, ("overall_accuracy", None): 0.9123, ("mean_accuracy", None): 0.8765,
        ("frequency_weighted_iou", None): 0.8543, ("iou", "background"): 0.9, ("iou", "pet"): 0.8,
        ("iou", "border"): 0.4568,
    }  # fmt: skip
    ood = _metric_values(card, "ood")
    assert ood[("mean_iou", None)] == 0.6123 and ood[("overall_accuracy", None)] == 0.801
    assert "3 out-of-distribution photos of Bombay, British_Shorthair" in entry["results"][1]["dataset"]["name"]


def test_body_has_attribution_training_and_metrics_from_the_files(root):
    card = cards.variant_card(root, "fcn32s")
    for text in [
        "Parkhi",
        '"Cats and Dogs", CVPR 2012',
        "CC BY-SA 4.0",
        "copyright of the images",
        "python -m fcn_demo.training.train --model all\n",  # default flags: nothing appended
        "Best epoch 2 of 3 (validation mIoU 40.0%, out-of-distribution mIoU 35.0%)",
        "1234 s (20.6 min)",
        "6.78 training images/s",
        "| `head_lr` | `0.001` |",
        "| `class_weights` | `[1.0, 1.0, 1.5]` |",
        "Parameters: 22 (",  # 3*5 + 7, from the safetensors header
        "shorter side is 256 px",  # the working size metrics.json read from the model
        "| **FCN-32s** | **91.2** | **87.7** | **76.5** | **85.4** | **90.0** | **80.0** | **45.7** |",
        "| U-Net | 92.2 | 87.7 | 77.5 | 85.4 | 90.0 | 80.0 | n/a |",
    ]:
        assert text in card, text
    assert "/shared/oxford-iiit-pet" not in card  # local data paths are not published
    assert "{{" not in card and "{%" not in card  # every template variable was filled


def test_card_says_what_the_model_was_trained_on_and_shows_the_ood_table(root):
    card = cards.variant_card(root, "fcn32s")
    assert f"Trained on {TRAINED_ON.sentence()}." in card
    assert "Abyssinian 90, Bengal 90, american bulldog 90" in card  # per-breed counts
    assert "2,040 photos of 3 other breeds" in card and "`unet (sha256 0123456789ab)`" in card
    test, ood = card.index("### Test split"), card.index("### Out-of-distribution photos")
    assert test < ood
    assert "3 photos of breeds without a labelled training photo (Bombay 1, British Shorthair 2)" in card
    assert "lean optimistic" in card  # metrics.json says these photos chose the saved epochs
    # metrics.json's ood entries, in their own table after the test one (percent, this model in bold)
    assert card.index("| **FCN-32s** | **80.1** | **87.7** | **61.2** |") > ood
    assert card.index("| U-Net | 81.1 | 87.7 | 71.2 |") > ood


def test_card_follows_the_files(root):
    h = json.loads((root / "unet" / "history.json").read_text())
    h["summary"]["wall_time_s"] = 4321.0
    h["config"]["epochs"] = 5
    h["config"]["init"] = "imagenet"
    h["config"]["start"] = None  # a round from the backbone
    h["trained_on"]["labelled_breeds"] = {"Bengal": 12}
    (root / "unet" / "history.json").write_text(json.dumps(h))
    card = cards.variant_card(root, "unet")
    assert "4321 s (72.0 min)" in card
    assert "python -m fcn_demo.training.train --model all --epochs 5 --init imagenet --start none" in card
    assert "official trainval split: Bengal 12;" in card
    assert {k: v for k, v in _metric_values(card, "test").items() if k[0] == "iou"} == {
        ("iou", "background"): 0.9, ("iou", "pet"): 0.8}  # NaN (class never seen) left out  # fmt: skip
    assert "staged training" not in card and "trained FCN-8s (its encoder; the decoder from scratch" in card


def test_an_old_history_and_metrics_json_still_make_a_card(root):
    """History files from before trained_on/ood were recorded, metrics.json without an ood section."""
    h = json.loads((root / "fcn32s" / "history.json").read_text())
    for key in ("trained_on", "ood_images", "selection"):
        del h[key]
    for e in h["epochs"]:
        del e["ood_miou"], e["ood_iou"]
    (root / "fcn32s" / "history.json").write_text(json.dumps(h))
    metrics = json.loads((root / "metrics.json").read_text())
    del metrics["ood"], metrics["breeds"]
    card = cards.variant_card(root, "fcn32s", metrics)
    assert "Trained on 270 labelled photos of 3 breeds (Abyssinian, Bengal, american bulldog)." in card
    assert "No unlabelled photos" in card and "validation mIoU on the trainval carve-out" in card
    assert "Out-of-distribution" not in card and "semi-supervised" not in _front_matter(card)["tags"]
    assert "{{" not in card


def test_write_cards_and_repo_card(root):
    written = publish.write_cards(root, "org/name")
    assert written == [root / "fcn32s" / "README.md", root / "unet" / "README.md", root / "README.md"]
    assert _front_matter(written[1].read_text())["model-index"][0]["name"] == "U-Net"
    top = written[2].read_text()
    assert top == cards.repo_card(root, "org/name")
    meta = _front_matter(top)
    # one model-index entry per model, each with its test and ood results
    assert [(e["name"], [r["dataset"]["split"] for r in e["results"]]) for e in meta["model-index"]] == [
        ("FCN-32s", ["test", "ood"]), ("U-Net", ["test", "ood"])]  # fmt: skip
    assert 'HubConfig(repo_id="org/name"' in top and "SHA256SUMS" in top
    assert f"{TRAINED_ON.sentence()}." in top and "### Out-of-distribution photos" in top
    assert "| [FCN-32s](./fcn32s) | `fcn32s/` | 0.0 M | 2 / 3 | 20.6 min | 76.5 | 61.2 |" in top


def test_missing_inputs_say_what_to_run(root):
    (root / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="python -m fcn_demo.training.evaluate"):
        cards.variant_card(root, "fcn32s")
    with pytest.raises(FileNotFoundError, match="python -m fcn_demo.training.train"):
        card_facts.read_facts(root, "fcn16s", metrics={"models": {}})
    assert publish.main(["cards", "--root", str(root)]) == 1


def test_nan_is_not_a_number_in_the_card():
    assert card_facts.pct(float("nan")) == "n/a" and not card_facts.finite(math.inf)


# --- the upload (staged from the tiny real checkpoints of conftest's ``ckpts``) ------------------


def test_dry_run_stages_the_published_folder_and_card(ckpts, tmp_path, capsys):
    out = tmp_path / "stage"
    assert publish.push(ckpts["hub_src"], "some-org/fcn-demo", dry_run=True, out=out) is None
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
    root = link_tree(ckpts["hub_src"], tmp_path / "ckpts")
    hist = root / "fcn16s" / "history.json"
    text = hist.read_text()
    hist.unlink()  # a hard link: do not change the shared fixture
    hist.write_text(text.replace('"best_epoch": 3', '"best_epoch": 2'))
    with pytest.raises(ValueError, match="sha256 mismatch: fcn16s/history.json"):
        publish.stage(root, tmp_path / "out", REPO_ID)


# --- the Space: what it preloads, and the push that pins it --------------------------------------


def test_the_space_preloads_every_file_the_app_pulls(checkpoints):
    """Every file SHA256SUMS lists (lineage files included) and the manifest itself: what the app
    pulls (hub.pull_patterns) of what a push uploads."""
    preload = publish.preload_files(publish.published_files(checkpoints))
    entries = manifest.read_manifest(checkpoints / "SHA256SUMS")
    assert preload == sorted([*entries, "SHA256SUMS"])
    assert {f"{v}/lineage.json" for v in ("fcn32s", "fcn16s", "unet")} <= set(preload) and len(entries) >= 31


def test_the_readme_declares_what_zerogpu_runs_and_pins_what_a_push_uploads(checkpoints):
    meta = metadata_load(REPO_ROOT / "README.md")
    assert meta["sdk"] == "gradio" and meta["python_version"] == "3.12" and meta["suggested_hardware"] == "zero-a10g"
    requirements = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= set(requirements)
    # CI builds its venv on that Python when the machine has one (pyenv here: 3.12 and 3.10), else python3.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}  # PYTHON= would choose for it
    ci = subprocess.run([REPO_ROOT / ".ci" / "run", "--python"], capture_output=True, text=True, check=True, env=env)
    version = subprocess.run([ci.stdout.strip(), "--version"], capture_output=True, text=True, check=True).stdout
    there = list(Path("~/.pyenv/versions").expanduser().glob("3.12.*/bin/python"))
    assert version.startswith("Python 3.12.") or not there, (ci.stdout, version)
    # Its preload_from_hub entry (written by a push) lists exactly what a push of these checkpoints
    # uploads and the app pulls, at a commit; before the first push there is none, and no `models`.
    assert publish.check_space(REPO_ROOT / "README.md", checkpoints) == []
    assert publish.main(["space", "--check", "--root", str(checkpoints)]) == 0


def test_a_push_pins_the_space_and_the_app_pulls_that_commit(ckpts, tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    shutil.copy(REPO_ROOT / "README.md", readme)
    before = metadata_load(readme)
    files = publish.published_files(ckpts["hub_src"])
    for commit in ("f" * 40, COMMIT):  # a second push replaces the pin
        publish.pin_space(readme, "org/name", commit, files)
    meta = metadata_load(readme)
    assert meta["models"] == ["org/name"]
    assert meta["preload_from_hub"] == [f"org/name {','.join(publish.preload_files(files))} {COMMIT}"]
    assert {k: v for k, v in meta.items() if k not in ("models", "preload_from_hub")} == before
    assert readme.read_text().split("\n---\n", 1)[1] == (REPO_ROOT / "README.md").read_text().split("\n---\n", 1)[1]
    assert publish.check_space(readme, ckpts["hub_src"]) == []
    # The app pulls the pinned commit, unless the environment names another repo or revision.
    monkeypatch.setattr(hub, "SPACE_README", readme)
    for var in ("FCN_DEMO_HUB_REPO", "FCN_DEMO_HUB_REVISION"):
        monkeypatch.delenv(var, raising=False)
    assert (hub.HubConfig().repo_id, hub.HubConfig().revision) == ("org/name", COMMIT)
    monkeypatch.setenv("FCN_DEMO_HUB_REPO", "other/repo")
    assert hub.HubConfig().revision == hub.DEFAULT_REVISION
    # A stale entry (a file added since the push, or a branch instead of a commit) is reported.
    text = readme.read_text()
    readme.write_text(text.replace("fcn32s/config.json,", "").replace(COMMIT, "main"))
    problems = publish.check_space(readme, ckpts["hub_src"])
    assert any("lacks ['fcn32s/config.json']" in p for p in problems), problems
    assert any("'main', not a commit" in p for p in problems), problems
