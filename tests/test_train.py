"""One real training step on real data: the loss is finite, trainable weights move, frozen ones don't."""

from __future__ import annotations

import torch

from fcn_demo.data import PetSegmentation, read_split, train_transform
from fcn_demo.runtime import autocast_dtype
from fcn_demo.train import RECIPES, TrainConfig, dice_loss, lr_lambda, make_model, recipe_config, train_step


def test_one_training_step(data_root, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(variant="unet", epochs=1, init="random", crop=64, data=str(data_root))
    model, fresh = make_model(cfg, tmp_path)
    assert fresh == {n for n, _ in model.named_parameters()}  # random init: everything is new
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
