"""The teacher's pseudo-labels: the softmax averaged over mirror images, scales and teachers."""

from __future__ import annotations

import torch

from fcn_demo.core.data import IGNORE
from fcn_demo.training.pseudo import pseudo_label, teacher_probs


class PixelTeacher(torch.nn.Module):
    """A teacher whose logits at a pixel depend on that pixel alone (and an asymmetric colour
    mix): its answer on a mirrored or resized photo, mapped back, is its answer on the photo."""

    def __init__(self, weights: list[list[float]]) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(weights))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": torch.einsum("kc,nchw->nkhw", self.w, x) * 8}


def photos(n: int = 2, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    left = torch.rand(n, 3, size, size // 2, generator=g)
    return torch.cat([left, left.flip(-1) * 0.2], -1)  # left and right halves differ


def test_mirror_answers_are_flipped_back_before_averaging():
    teacher = PixelTeacher([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    x = photos()
    expected = teacher(x)["out"].softmax(1)
    got = teacher_probs([teacher], x, torch.device("cpu"), None)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)  # a mirror answer left unflipped would differ here


def test_scales_come_back_at_the_photo_size_and_teachers_average():
    a = PixelTeacher([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    b = PixelTeacher([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    x = photos(size=64)
    got = teacher_probs([a, b], x, torch.device("cpu"), None, scales=(0.75, 1.0))
    assert got.shape == (2, 3, 64, 64)
    torch.testing.assert_close(got.sum(1), torch.ones(2, 64, 64))
    one_scale = teacher_probs([a, b], x, torch.device("cpu"), None)
    torch.testing.assert_close(one_scale, (a(x)["out"].softmax(1) + b(x)["out"].softmax(1)) / 2)


def test_pixels_the_teacher_is_unsure_of_are_ignored():
    teacher = PixelTeacher([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    x = photos()
    prob = teacher(x)["out"].softmax(1)
    masks = pseudo_label([teacher], (x * 255).round().to(torch.uint8), torch.device("cpu"), None, threshold=0.7)
    sure = prob.max(1).values >= 0.75  # away from the threshold (the uint8 photo rounds a little)
    unsure = prob.max(1).values < 0.65
    assert sure.any() and unsure.any()
    assert (masks[sure] == prob.argmax(1)[sure].to(torch.uint8)).all()
    assert (masks[unsure] == IGNORE).all()
