"""One real training step on real data: the loss is finite, trainable weights move, frozen ones don't."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_demo.core.data import PetSegmentation, read_split, train_transform
from fcn_demo.core.runtime import autocast_dtype
from fcn_demo.models import VARIANTS, build_model
from fcn_demo.training.config import TrainConfig, epoch_crop, recipe_config
from fcn_demo.training.steps import dice_loss, ema_update, lr_lambda, make_model, train_step


def test_one_training_step(data_root, tmp_path):
    torch.manual_seed(0)
    parent = build_model("fcn8s")
    parent.save_pretrained(tmp_path / "fcn8s")  # the U-Net starts from FCN-8s's encoder
    cfg = TrainConfig(variant="unet", epochs=1, init="random", crop=64, data=str(data_root))
    model, fresh = make_model(cfg, tmp_path)
    assert fresh == {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}
    for name, w in model.backbone.state_dict().items():
        assert torch.equal(w, parent.backbone.state_dict()[name]), name
    ds = PetSegmentation(data_root, read_split(data_root, "trainval")[:2], short=80, transform=train_transform(64))
    img, mask = (torch.stack(t) for t in zip(*[ds[0], ds[1]]))
    frozen = model.backbone.features[0].weight.detach().clone()
    trained = model.decoder[0][0][0].weight.detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    device = torch.device("cpu")
    loss = train_step(model.train(), img, mask, opt, scaler, cfg, torch.ones(3), device, autocast_dtype(device))
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    assert torch.equal(model.backbone.features[0].weight, frozen)  # conv1 is frozen
    assert not torch.equal(model.decoder[0][0][0].weight, trained)


def test_lr_schedule_warms_up_then_decays():
    f = lr_lambda(TrainConfig(variant="fcn32s", epochs=1, warmup_steps=10), total_steps=110)
    assert f(0) == 0.1 and f(9) == 1.0
    assert f(60) < f(20) < 1.0 and f(110) == 0.0


def test_progressive_resizing_switches_to_the_full_crop():
    cfg = TrainConfig(variant="unet", epochs=4, crop=224, small_crop=160, small_crop_epochs=2)
    assert [epoch_crop(cfg, e) for e in range(1, 5)] == [160, 160, 224, 224]
    assert {epoch_crop(TrainConfig(variant="fcn32s", epochs=3), e) for e in (1, 2, 3)} == {224}


def test_dice_loss_is_zero_when_right_and_high_when_wrong():
    target = torch.randint(0, 3, (2, 16, 16), generator=torch.Generator().manual_seed(0))
    right = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert dice_loss(right, target) < 1e-3
    wrong = right.roll(1, dims=1)  # every pixel scored as another class
    assert dice_loss(wrong, target) > 0.99
    logits = torch.zeros(2, 3, 16, 16, requires_grad=True)
    dice_loss(logits, target).backward()
    assert logits.grad.abs().sum() > 0


def test_recipes_cover_the_registry_and_flags_override_them():
    unet = VARIANTS["unet"]
    cfg = recipe_config("unet", seed=3)
    assert cfg.epochs == unet.recipe["epochs"] and cfg.dice_weight == unet.recipe["dice_weight"]
    assert cfg.seed == 3 and recipe_config("unet", epochs=2).epochs == 2
    assert recipe_config("fcn32s").dice_weight == 0.0


def test_a_round_starts_each_model_from_its_own_previous_weights(tmp_path):
    from fcn_demo.core.checkpoint import weights_label

    torch.manual_seed(0)
    previous = build_model("fcn16s", working_short_side=224)
    previous.save_pretrained(tmp_path / "fcn16s")
    cfg = recipe_config("fcn16s", start=str(tmp_path), init="random")
    assert cfg.epochs == VARIANTS["fcn16s"].round_recipe["epochs"] != VARIANTS["fcn16s"].recipe["epochs"]
    assert recipe_config("fcn16s", start=None).epochs == VARIANTS["fcn16s"].recipe["epochs"]
    model, fresh = make_model(cfg, tmp_path / "elsewhere")  # no parent needed: it starts from itself
    assert fresh == set() and model.working_short_side == 224  # its config travels with it
    for name, w in model.state_dict().items():
        assert torch.equal(w, previous.state_dict()[name]), name
    assert model.backbone.features[0].weight.requires_grad is False  # still frozen, as in round 1
    assert weights_label(tmp_path / "fcn16s").startswith("fcn16s sha256:")


def test_a_round_that_beats_nothing_keeps_the_previous_files(tmp_path):
    from fcn_demo.training.progress import beats_its_start, folder_files, keep_previous_round

    def row(epoch, val, ood):
        return {"epoch": epoch, "val_miou": val, "ood_miou": ood}

    start = row(0, 0.725, 0.676)
    assert not beats_its_start([start, row(1, 0.727, 0.658), row(2, 0.730, 0.654)])  # better val, worse mean
    assert beats_its_start([start, row(1, 0.70, 0.68), row(2, 0.73, 0.68)])
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    (old / "model.safetensors").write_bytes(b"round 1")
    (new / "model.safetensors").write_bytes(b"round 2")
    (new / "README.md").write_text("round 2's")
    keep_previous_round(new, folder_files(old))
    assert folder_files(new) == {"model.safetensors": b"round 1"}


def test_training_table_sums_times_only_for_one_recorded_run(tmp_path):
    from fakes import history

    from fcn_demo.training.evaluate import training_table

    def write(name: str, run: dict | None, cpu: str = "Some CPU", ood: bool = False) -> None:
        (tmp_path / name).mkdir(exist_ok=True)
        summary = {"wall_time_s": 600.0, "train_images_per_s": 3.0, "device": "cpu", "cpu": cpu, "threads": 2,
                   "autocast": "None", "run": run}  # fmt: skip
        history(name, summary=summary, best_epoch=1, ood=ood).write(tmp_path / name)

    run = {"command": "python -m fcn_demo.training.train --model all", "started": "2026-11-22T06:00:00+00:00"}
    for name in ("fcn32s", "unet"):
        write(name, run)
    table = training_table(tmp_path, ["fcn32s", "unet"])
    assert "All four in one run (`python -m fcn_demo.training.train --model all`" in table and "20.0 min" in table
    assert "| FCN-32s | hed backbone | 3 | 1 (0.300) | 10.0 min |" in table and "OOD" not in table
    write("unet", {**run, "started": "2026-11-22T08:00:00+00:00"})
    assert "not the time of one run" in training_table(tmp_path, ["fcn32s", "unet"])
    write("unet", run, cpu="Other CPU")
    assert "nor one machine" in training_table(tmp_path, ["fcn32s", "unet"])
    # a history that records the out-of-distribution mIoU adds its column (n/a for one that does not)
    write("unet", run, ood=True)
    table = training_table(tmp_path, ["fcn32s", "unet"])
    assert "| Best epoch (val mIoU) | OOD mIoU at best |" in table
    assert "| U-Net | FCN-8s | 3 | 1 (0.300) | 0.250 | 10.0 min |" in table and "| 1 (0.300) | n/a |" in table


def test_the_weight_average_moves_a_step_towards_the_trained_weights_and_rounds_use_it():
    torch.manual_seed(0)
    model = build_model("fcn32s", num_classes=3)
    avg = build_model("fcn32s", num_classes=3)
    before = {k: v.clone() for k, v in avg.state_dict().items()}
    ema_update(avg, model, decay=0.75)
    for k, v in avg.state_dict().items():
        assert torch.allclose(v, 0.75 * before[k] + 0.25 * model.state_dict()[k]), k
    ema_update(avg, model, decay=0.0)  # no memory: the trained weights themselves
    for k, v in avg.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    assert all(recipe_config(v, start="checkpoints").ema_decay > 0 for v in VARIANTS)
    assert all(recipe_config(v, start=None).ema_decay == 0 for v in VARIANTS)  # round 1 as it was run


def _tiny_pet_folder(root, names, size=48, split=None):
    """A folder laid out as the release: random photos, trimaps of a centred square pet."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for n in names:
        Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(root / "images" / f"{n}.jpg")
        tri = np.full((size, size + 8), 2, np.uint8)
        tri[12:36, 12:40], tri[14:34, 14:38] = 3, 1
        Image.fromarray(tri).save(root / "annotations" / "trimaps" / f"{n}.png")
    if split:
        (root / "annotations" / "trainval.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))


def _tiny_config(tmp_path, epochs):
    data, extra = tmp_path / "pet", tmp_path / "extra"
    if not data.is_dir():
        _tiny_pet_folder(data, [f"Abyssinian_{i}" for i in range(12)], split=True)
        _tiny_pet_folder(extra, [f"beagle_{i}" for i in range(10)] + ["Birman_1", "boxer_1", "pug_1"])
    return TrainConfig(variant="fcn32s", epochs=epochs, init="random", batch_size=4, crop=32, short=48,
                       data=str(data), extra_data=str(extra), unlabelled=0, teacher=None,
                       ood_data=str(tmp_path / "none"), unlabelled_data=str(tmp_path / "none"), ema_decay=0.9)  # fmt: skip


def _bytes_and_curves(folder):
    h = json.loads((folder / "history.json").read_text())
    curves = [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h["epochs"]]
    return (folder / "model.safetensors").read_bytes(), curves, (folder / "replay_masks.png").read_bytes()


def test_extra_breeds_train_and_an_interrupted_training_resumes_to_the_same_result(tmp_path, monkeypatch):
    """The extra set's breeds train beside trainval and its held-out breeds judge; --resume: a run
    stopped in its second epoch and resumed ends byte for byte as one that never stopped."""
    import fcn_demo.training.loop as tr

    monkeypatch.setattr(tr, "REPLAY_INDICES", (0, 1))
    cfg = _tiny_config(tmp_path, epochs=2)
    h = tr.train(cfg, tmp_path / "whole")
    # 10 trainval (2 of 12 judge) + beagle (10, of which every 10th judges) + the third small breed by name (pug).
    assert h.trained_on.labelled_breeds == {"Abyssinian": 10, "beagle": 9, "pug": 1}
    assert set(h.ood_images) == {"Birman_1", "boxer_1"} and "beagle_0" in h.val_images
    assert h.best.ood_miou is not None
    assert not (tr.progress_dir(tmp_path / "whole") / "fcn32s.pt").exists()  # a finished run leaves no state
    assert (tr.progress_dir(tmp_path / "whole") / "fcn32s.done").exists()

    steps_per_epoch = 20 // cfg.batch_size
    real_step, steps = tr.train_step, {"n": 0}

    def stop_in_epoch_2(*args, **kwargs):
        steps["n"] += 1
        if steps["n"] > steps_per_epoch + 1:  # one step into epoch 2: the session ends
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(tr, "train_step", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        tr.train(cfg, tmp_path / "cut")
    state = torch.load(tr.progress_dir(tmp_path / "cut") / "fcn32s.pt", weights_only=False)
    assert len(state["epochs"]) == 2  # epochs 0 and 1 are kept
    monkeypatch.setattr(tr, "train_step", real_step)
    tr.train(cfg, tmp_path / "cut", resume=True)
    assert _bytes_and_curves(tmp_path / "cut" / "fcn32s") == _bytes_and_curves(tmp_path / "whole" / "fcn32s")
    # Another recipe's state is refused, not silently continued.
    torch.save({**state, "config": {**state["config"], "lr": 1.0}}, tr.progress_dir(tmp_path / "cut") / "fcn32s.pt")
    with pytest.raises(ValueError, match="another recipe"):
        tr.train(cfg, tmp_path / "cut", resume=True)


def test_stop_after_ends_early_and_the_history_says_so(tmp_path, monkeypatch):
    import fcn_demo.training.loop as tr

    monkeypatch.setattr(tr, "REPLAY_INDICES", (0, 1))
    h = tr.train(_tiny_config(tmp_path, epochs=3), tmp_path / "out", stop_after=1)
    assert [e.epoch for e in h.epochs] == [0, 1] and h.summary["epochs_not_run"] == 2
    assert h.best_epoch == 1 and (tmp_path / "out" / "fcn32s" / "model.safetensors").is_file()
