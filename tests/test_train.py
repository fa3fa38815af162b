"""One real training step on real data: the loss is finite, trainable weights move, frozen ones don't."""

from __future__ import annotations

import torch

from fcn_demo.data import PetSegmentation, read_split, train_transform
from fcn_demo.runtime import autocast_dtype
from fcn_demo.train import TrainConfig, lr_lambda, make_model, train_step


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
