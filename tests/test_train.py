"""One real training step on real data: the loss is finite, trainable weights move, frozen ones don't."""

from __future__ import annotations

import torch

from fcn_demo.data import PetSegmentation, read_split, train_transform
from fcn_demo.models import build_model
from fcn_demo.runtime import autocast_dtype
from fcn_demo.train import (
    RECIPES,
    ROUND_RECIPES,
    TrainConfig,
    dice_loss,
    ema_update,
    epoch_crop,
    lr_lambda,
    make_model,
    recipe_config,
    train_step,
)


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
    from fcn_demo.models import VARIANTS

    assert set(RECIPES) == set(VARIANTS)
    cfg = recipe_config("unet", seed=3)
    assert cfg.epochs == RECIPES["unet"]["epochs"] and cfg.dice_weight == RECIPES["unet"]["dice_weight"]
    assert cfg.seed == 3 and recipe_config("unet", epochs=2).epochs == 2
    assert recipe_config("fcn32s").dice_weight == 0.0


def test_a_round_starts_each_model_from_its_own_previous_weights(tmp_path):
    from fcn_demo.checkpoint import weights_label

    torch.manual_seed(0)
    previous = build_model("fcn16s", working_short_side=224)
    previous.save_pretrained(tmp_path / "fcn16s")
    cfg = recipe_config("fcn16s", start=str(tmp_path), init="random")
    assert set(ROUND_RECIPES) == set(RECIPES) and cfg.epochs == ROUND_RECIPES["fcn16s"]["epochs"]
    assert recipe_config("fcn16s", start=None).epochs == RECIPES["fcn16s"]["epochs"]
    model, fresh = make_model(cfg, tmp_path / "elsewhere")  # no parent needed: it starts from itself
    assert fresh == set() and model.working_short_side == 224  # its config travels with it
    for name, w in model.state_dict().items():
        assert torch.equal(w, previous.state_dict()[name]), name
    assert model.backbone.features[0].weight.requires_grad is False  # still frozen, as in round 1
    assert weights_label(tmp_path / "fcn16s").startswith("fcn16s sha256:")


def test_a_round_that_beats_nothing_keeps_the_previous_files(tmp_path):
    from fcn_demo.train import beats_its_start, folder_files, keep_previous_round

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

    from fcn_demo.evaluate import training_table

    def write(name: str, run: dict | None, cpu: str = "Some CPU", ood: bool = False) -> None:
        (tmp_path / name).mkdir(exist_ok=True)
        summary = {"wall_time_s": 600.0, "train_images_per_s": 3.0, "device": "cpu", "cpu": cpu, "threads": 2,
                   "autocast": "None", "run": run}  # fmt: skip
        history(name, summary=summary, best_epoch=1, ood=ood).write(tmp_path / name)

    run = {"command": "python -m fcn_demo.train --model all", "started": "2026-11-22T06:00:00+00:00"}
    for name in ("fcn32s", "unet"):
        write(name, run)
    table = training_table(tmp_path, ["fcn32s", "unet"])
    assert "All four in one run (`python -m fcn_demo.train --model all`" in table and "20.0 min" in table
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
    assert all(recipe_config(v, start="checkpoints").ema_decay > 0 for v in ROUND_RECIPES)
    assert all(recipe_config(v, start=None).ema_decay == 0 for v in RECIPES)  # round 1 as it was run
