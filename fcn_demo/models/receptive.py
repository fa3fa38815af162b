"""Theoretical receptive fields from layer arithmetic: which input pixels can influence an output.

Two views of the same arithmetic, both pure (no forward pass, no weights):

- :func:`walk`, the textbook recurrence over a chain of convolutions and pools: the field's size,
  its jump (the input distance between neighbouring units: the stride) and the input coordinate of
  unit 0's centre. VGG16's pool3/pool4/pool5 come out at 44/100/212 px.
- :class:`ReceptiveField`, for whole models: a set of paths from the input to the output (a fused
  output is the union of its paths), each a list of ops that map an interval of output indices back
  to the interval of input indices it reads. It handles what the recurrence cannot: a learned
  ``ConvTranspose2d`` (each output cell reads 2 input cells, which two depends on its parity) and a
  bilinear resize (each output pixel reads the 2 nearest cells per axis). Rows and columns are
  independent, so a box is two intervals.

Models build their paths from their own modules (:func:`layers_of`), so the field follows a changed
kernel size or dilation without anyone editing a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from torch import nn

# Modules that act on each pixel alone: they leave the receptive field as it is.
_POINTWISE = (nn.ReLU, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity)


@dataclass(frozen=True)
class Layer:
    """A convolution or pooling window: ``kernel`` taps ``dilation`` apart, moved by ``stride``,
    over an input padded by ``padding`` (``ceil_mode``: a pool that keeps a last, partial window)."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: int = 0
    ceil_mode: bool = False

    def out_size(self, n: int, full: int) -> int:
        """Output length for an input of length ``n`` (PyTorch's formula; ``full``, the network
        input's length, is unused here)."""
        span = n + 2 * self.padding - self.dilation * (self.kernel - 1) - 1
        if not self.ceil_mode:
            return span // self.stride + 1
        out = -(-span // self.stride) + 1
        # PyTorch drops a last window that would start in the right padding.
        return out - 1 if (out - 1) * self.stride >= n + self.padding else out

    def back(self, lo: int, hi: int, n_in: int, n_out: int) -> tuple[int, int]:
        """The input indices output indices ``lo..hi`` read (padding included: may leave 0..n_in-1)."""
        return lo * self.stride - self.padding, hi * self.stride - self.padding + self.dilation * (self.kernel - 1)


@dataclass(frozen=True)
class Up:
    """A transposed convolution (learned upsampling), its output cropped to the length of the map
    at ``out_stride`` it is added to (as :meth:`FCN.fuse` crops it)."""

    kernel: int
    stride: int
    padding: int
    out_stride: int

    def out_size(self, n: int, full: int) -> int:
        return min((n - 1) * self.stride - 2 * self.padding + self.kernel, -(-full // self.out_stride))

    def back(self, lo: int, hi: int, n_in: int, n_out: int) -> tuple[int, int]:
        # Output o = i * stride - padding + t for kernel tap t: o reads the inputs i with t in range.
        first = -(-(lo + self.padding - self.kernel + 1) // self.stride)
        return max(0, first), min(n_in - 1, (hi + self.padding) // self.stride)


@dataclass(frozen=True)
class Bilinear:
    """``F.interpolate(mode="bilinear", align_corners=False)`` to the length of the map at
    ``out_stride`` (1: the network input)."""

    out_stride: int

    def out_size(self, n: int, full: int) -> int:
        return -(-full // self.out_stride)

    def back(self, lo: int, hi: int, n_in: int, n_out: int) -> tuple[int, int]:
        if n_in == n_out:  # PyTorch copies
            return lo, hi

        # PyTorch's source coordinate (o + 0.5) * n_in / n_out - 0.5, clamped at 0: output o reads
        # its floor and, unless the coordinate is whole (weight 0: at the clamp), the next cell.
        # Exact fractions: for the working sizes (multiples of 32) PyTorch's float coordinate is
        # exact too, so the box and the gradient agree to the pixel.
        def src(o: int) -> Fraction:
            return max(Fraction(0), (o + Fraction(1, 2)) * Fraction(n_in, n_out) - Fraction(1, 2))

        last = src(hi)
        return math.floor(src(lo)), min(n_in - 1, math.floor(last) + (last.denominator != 1))


Op = Layer | Up | Bilinear


@dataclass(frozen=True)
class Field:
    """The receptive field of the units of one layer of a chain: ``size`` input pixels wide,
    ``jump`` input pixels between neighbouring units, unit 0 centred on input coordinate ``start``
    (pixel centres at 0, 1, ...; a field may reach into the padding, below 0)."""

    size: int
    jump: int
    start: float


def walk(layers: list[Layer], field: Field = Field(1, 1, 0.0)) -> Field:
    """The receptive field after a chain of convolutions and pools, by the textbook recurrence:
    each layer widens the field by (its reach - 1) units of the current jump."""
    size, jump, start = field.size, field.jump, field.start
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"walk() follows convolutions and pools only, not {layer!r}: use ReceptiveField")
        reach = layer.dilation * (layer.kernel - 1)
        size += reach * jump
        start += (reach / 2 - layer.padding) * jump
        jump *= layer.stride
    return Field(size, jump, start)


def layers_of(module: nn.Module, out_stride: int | None = None) -> list[Op]:
    """The ops of ``module`` (a layer, or a Sequential of them, in order) for the arithmetic.
    ``out_stride``: for a ConvTranspose2d, the stride of the map its output is cropped to."""
    ops: list[Op] = []
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            if out_stride is None:
                raise ValueError("a ConvTranspose2d needs the out_stride of the map it is cropped to")
            ops.append(Up(_square(m.kernel_size), _square(m.stride), _square(m.padding), out_stride))
        elif isinstance(m, nn.Conv2d):
            k, s, d, p = (_square(v) for v in (m.kernel_size, m.stride, m.dilation, m.padding))
            ops.append(Layer(k, s, d, p))
        elif isinstance(m, nn.MaxPool2d):
            k, s, d, p = (_square(v) for v in (m.kernel_size, m.stride, m.dilation, m.padding))
            ops.append(Layer(k, s, d, p, m.ceil_mode))
        elif not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict, *_POINTWISE)):
            raise TypeError(f"no receptive-field rule for {type(m).__name__}")
    return ops


def _square(v: int | tuple[int, ...]) -> int:
    if isinstance(v, int):
        return v
    if len(set(v)) != 1:
        raise ValueError(f"only square kernels, strides and paddings are supported, got {v}")
    return v[0]


@dataclass(frozen=True)
class ReceptiveField:
    """The theoretical receptive field of a model's output: the union over ``paths``, each the
    ops from the network input to that output."""

    paths: tuple[tuple[Op, ...], ...]

    def interval(self, o: int, n: int, clip: bool = True) -> tuple[int, int]:
        """First and last input index (inclusive) that can influence output index ``o`` along one
        axis of length ``n`` (the network input's length, which fixes every map's length)."""
        lo, hi = n, -1
        for path in self.paths:
            sizes = _sizes(path, n)
            if not 0 <= o < sizes[-1]:
                raise ValueError(f"output index {o} outside 0..{sizes[-1] - 1}")
            a = b = o
            for op, n_in, n_out in zip(reversed(path), reversed(sizes[:-1]), reversed(sizes[1:])):
                # Indices outside a map are its padding: zeros that read nothing.
                a, b = op.back(max(a, 0), min(b, n_out - 1), n_in, n_out)
            lo, hi = min(lo, a), max(hi, b)
        return (max(0, lo), min(n - 1, hi)) if clip else (lo, hi)

    def box(self, y: int, x: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive, of the input pixels that can influence output
        pixel (y, x) of an input of ``size`` (h, w), clipped to the image."""
        (top, bottom), (left, right) = self.interval(y, size[0]), self.interval(x, size[1])
        return top, left, bottom, right

    def size(self) -> int:
        """The field's width in input pixels: the widest unclipped interval of any output index."""
        # The arithmetic repeats every `period` input pixels: the largest stride on a path.
        period = max(math.prod(op.stride for op in path if isinstance(op, Layer)) for path in self.paths)
        n = 64 * period  # long enough that the middle indices are far from both ends
        m = _sizes(self.paths[0], n)[-1]
        return max(b - a + 1 for a, b in (self.interval(o, n, clip=False) for o in range(m // 2, m // 2 + period)))


def pick_field(fields: dict[str, list[list[Op]]], key: str) -> ReceptiveField:
    """The field of map ``key`` from a model's map name -> paths; unknown names raise with the valid ones."""
    if key not in fields:
        raise KeyError(f"no map {key!r}; valid: {', '.join(fields)}")
    return ReceptiveField(tuple(tuple(p) for p in fields[key]))


def _sizes(path: tuple[Op, ...], n: int) -> list[int]:
    """The length of every map along ``path``, from the input's ``n`` on."""
    sizes = [n]
    for op in path:
        sizes.append(op.out_size(sizes[-1], n))
    return sizes
