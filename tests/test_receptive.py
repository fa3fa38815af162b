"""Theoretical receptive fields (fcn_demo.models.receptive): VGG16's hand count, the recurrence and the
interval arithmetic agree, every model's box is the exact support of a real input gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fcn_demo.models import FCN, VARIANTS, UNet, VGG16Backbone, build_model
from fcn_demo.models.receptive import Bilinear, Field, Layer, ReceptiveField, Up, layers_of, walk


def test_vgg16_fields_match_the_hand_count():
    # Two 3x3 convs: 5 px; a 2x2 pool doubles the jump; each 3x3 conv adds 2 jumps.
    # pool3: ((5+1+2*2*2)+2)+3*2*4 = 40, +4 = 44; pool4: 44+3*2*8+8 = 100; pool5: 100+3*2*16+16 = 212.
    layers = VGG16Backbone().receptive_layers
    assert walk(layers("conv1")) == Field(5, 1, 0.0)
    assert walk(layers("pool3")) == Field(44, 8, 3.5)
    assert walk(layers("pool4")) == Field(100, 16, 7.5)
    assert walk(layers("pool5")) == Field(212, 32, 15.5)


@pytest.mark.parametrize("tap", ["pool1", "conv3", "pool3", "pool4", "pool5"])
def test_interval_arithmetic_agrees_with_the_recurrence(tap):
    layers = VGG16Backbone().receptive_layers(tap)
    f, rf = walk(layers), ReceptiveField((tuple(layers),))
    assert rf.size() == f.size
    for i in (100, 101, 102):  # unit i spans start + i * jump -/+ (size - 1) / 2 (far from the padding)
        lo, hi = rf.interval(i, 4096, clip=False)
        assert (lo, hi) == (f.start + i * f.jump - (f.size - 1) / 2, f.start + i * f.jump + (f.size - 1) / 2)


def test_model_fields_follow_their_modules():
    # fc6 7x7 (the paper's) instead of 3x3: 4 more pool5 cells of 32 px.
    assert FCN(32).receptive_field("score_pool5").size() == 212 + 2 * 32
    assert FCN(32, fc6_kernel=7).receptive_field("score_pool5").size() == 212 + 6 * 32
    # The U-Net's bottleneck: each 3x3 conv at stride 16 adds 32 px x its dilation.
    assert UNet(center_dilation=[1, 1]).receptive_field("stage16").size() == 100 + 32 + 32
    assert UNet(center_dilation=[2, 4]).receptive_field("stage16").size() == 100 + 64 + 128
    with pytest.raises(KeyError, match="fuse_pool3"):
        FCN(16).receptive_field("fuse_pool3")


def test_skips_do_not_shrink_the_theoretical_field():
    sizes = {name: build_model(name).receptive_field().size() for name in VARIANTS}
    assert sizes["fcn32s"] <= sizes["fcn16s"] <= sizes["fcn8s"]
    assert all(s > 256 for s in sizes.values()), "every output pixel can see past the 256 px working side"


def test_ops_read_the_layers_pytorch_builds():
    assert layers_of(nn.Sequential(nn.Conv2d(3, 3, 3, padding=2, dilation=2), nn.ReLU(), nn.MaxPool2d(2, 2))) == [
        Layer(3, 1, 2, 2),
        Layer(2, 2),
    ]
    assert layers_of(nn.ConvTranspose2d(3, 3, 4, 2, 1), out_stride=8) == [Up(4, 2, 1, 8)]
    with pytest.raises(TypeError, match="Linear"):
        layers_of(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(TypeError, match="ReceptiveField"):
        walk([Bilinear(1)])


def test_pool_sizes_are_pytorchs():
    pool = nn.MaxPool2d(2, 2, ceil_mode=True)
    (op,) = layers_of(pool)
    for n in range(1, 40):
        assert op.out_size(n, n) == pool(torch.zeros(1, 1, 1, n)).shape[-1]


def _support_bounds(grad: torch.Tensor) -> tuple[int, int]:
    cols = grad.abs().sum(dim=(0, 1)).nonzero().flatten()  # (H, W) -> columns with any non-zero
    return int(cols.min()), int(cols.max())


@pytest.mark.parametrize("name", list(VARIANTS))
def test_box_is_the_exact_support_of_the_input_gradient(name):
    """Random weights, a random input a little wider than the field: the gradient of one output pixel
    is non-zero exactly on the columns its theoretical box spans (near both ends, where the box is
    clipped, and in the middle, where it is whole). The columns a pixel sees do not depend on the
    image's height, so the input is 8 rows high: a quarter of the work of 32."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    for p in model.parameters():  # the zero-initialised skip scores would hide their paths
        p.data.add_(torch.randn_like(p) * 0.05)
        p.requires_grad_(False)  # only the input's gradient is asked for: no weight gradients to compute
    field = model.receptive_field()
    height, width = 8, -(-(field.size() + 64) // 32) * 32  # room for one whole box, in multiples of the stride
    xs = (0, 37, width // 2, width - 1)
    _, left, _, right = field.box(4, width // 2, (height, width))
    assert left > 0 and right < width - 1, "the middle box must be whole, or the test proves less"
    x = torch.rand(len(xs), 3, height, width, requires_grad=True)
    out = model(x)["out"]
    out[range(len(xs)), 1, 4, list(xs)].sum().backward()  # one probe per batch item, on row 4
    for i, col in enumerate(xs):
        _, left, _, right = field.box(4, col, (height, width))
        assert _support_bounds(x.grad[i]) == (left, right), f"pixel x={col}"
