"""The sub-pixel shift of a downscale-then-upscale round trip, for every srkit resize kernel and for the
``torch.nn.functional.interpolate`` settings the seed transformer's code trained with.

The seed write-up (``shared/seeds/004_*``) lists "due to downsampling, image is shifted to the top left"
as an open problem. srkit's kernels sample on MATLAB's centred grid, so the round trip does not move the
image; this file measures it, two ways:

- **ramp** (exact, the low-frequency limit): a linear ramp ``f = x`` becomes ``f(x - d)`` under a
  translation by ``d``; ``d = x - R(f)(x)``, averaged over the interior (away from the mirrored
  borders) of the round trip ``R`` applied to a horizontal and a vertical ramp;
- **texture** (broadband): the translation ``d`` that minimises the squared difference between ``R(hr)``
  and ``hr`` shifted by ``d`` (Fourier shift, Gauss-Newton), for periodic band-limited random textures,
  averaged over seeds; aliasing leaves a few thousandths of a pixel of noise.

``d > 0`` moves the image right (``dx``) or down (``dy``), in HR pixels; "shifted to the top left" is
``d < 0``. ``python tests/test_shift.py`` prints the table of ``docs/transformers.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from srkit.degrade import resize
from srkit.degrade.resize import KERNELS

RoundTrip = Callable[[torch.Tensor, int], torch.Tensor]
SCALES = (2, 3, 4)


def srkit_round_trip(kernel: str) -> RoundTrip:
    """Down by ``1/s`` and up by ``s`` with srkit's MATLAB-style ``kernel`` (float path)."""

    def run(hr: torch.Tensor, s: int) -> torch.Tensor:
        return resize(resize(hr, 1.0 / s, kernel=kernel), float(s), kernel=kernel)

    return run


def torch_round_trip(mode: str, antialias: bool = False) -> RoundTrip:
    """Down with ``F.interpolate(scale_factor=1/s, mode=mode, antialias=...)`` (``align_corners`` left at
    its default, as the seed's ``random_downsample``), up by ``s`` with the same mode."""
    corners: dict[str, bool] = (
        {} if mode in ("area", "nearest", "nearest-exact") else {"align_corners": False}
    )

    def run(hr: torch.Tensor, s: int) -> torch.Tensor:
        lr = F.interpolate(hr, scale_factor=1.0 / s, mode=mode, antialias=antialias, **corners)
        return F.interpolate(lr, scale_factor=float(s), mode=mode, **corners)

    return run


#: name -> round trip. The seed's ``random_downsample`` draws bilinear (antialias), bicubic
#: (antialias) or area (no antialias); nearest and nearest-exact are there for comparison.
METHODS: dict[str, RoundTrip] = {
    **{f"srkit {k}": srkit_round_trip(k) for k in KERNELS},
    "torch bilinear, antialias (seed)": torch_round_trip("bilinear", antialias=True),
    "torch bicubic, antialias (seed)": torch_round_trip("bicubic", antialias=True),
    "torch area (seed)": torch_round_trip("area"),
    "torch nearest": torch_round_trip("nearest"),
    "torch nearest-exact": torch_round_trip("nearest-exact"),
}


def ramp_shift(method: RoundTrip, s: int, size: int = 96) -> tuple[float, float]:
    """``(dy, dx)``: ``x - R(x)`` (and ``y - R(y)``) averaged over the interior of a ramp image."""
    coords = torch.arange(size, dtype=torch.float64)
    margin = 4 * s
    inner = slice(margin, size - margin)
    ramp_x = coords.expand(size, size)[None, None]
    ramp_y = ramp_x.transpose(-1, -2)
    dx = (ramp_x - method(ramp_x, s))[..., inner, inner].mean()
    dy = (ramp_y - method(ramp_y, s))[..., inner, inner].mean()
    return float(dy), float(dx)


def texture(size: int, seed: int, sigma: float = 1 / 32) -> torch.Tensor:
    """A periodic random texture with a Gaussian spectrum (``sigma`` cycles per pixel), mean 0.5, std
    0.15, ``(1, 1, size, size)`` float64."""
    g = torch.Generator().manual_seed(seed)
    ky, kx = (
        torch.fft.fftfreq(size, dtype=torch.float64)[:, None],
        torch.fft.fftfreq(size, dtype=torch.float64),
    )
    amplitude = torch.exp(-(kx**2 + ky**2) / (2 * sigma**2))
    noise = torch.randn(size, size, generator=g, dtype=torch.float64)
    field = torch.fft.ifft2(torch.complex(noise, torch.randn_like(noise)) * amplitude).real
    return ((field - field.mean()) / field.std() * 0.15 + 0.5)[None, None]


def fit_shift(ref: torch.Tensor, img: torch.Tensor, margin: int, iterations: int = 8) -> tuple[float, float]:
    """``(dy, dx)`` minimising ``|img - ref(. - d)|^2`` over the interior (``ref`` periodic, Fourier
    shifted; Gauss-Newton from 0)."""
    size = ref.shape[-1]
    ky, kx = (
        torch.fft.fftfreq(size, dtype=torch.float64)[:, None],
        torch.fft.fftfreq(size, dtype=torch.float64),
    )
    spectrum = torch.fft.fft2(ref[0, 0])
    inner = (slice(margin, size - margin), slice(margin, size - margin))
    d = torch.zeros(2, dtype=torch.float64)
    for _ in range(iterations):
        moved = spectrum * torch.exp(-2j * math.pi * (ky * d[0] + kx * d[1]))
        residual = (img[0, 0] - torch.fft.ifft2(moved).real)[inner].reshape(-1, 1)
        grads = [torch.fft.ifft2(moved * (-2j * math.pi * k)).real[inner].reshape(-1) for k in (ky, kx)]
        jac = torch.stack(grads, dim=1)
        d = d + torch.linalg.solve(jac.T @ jac, jac.T @ residual)[:, 0]  # the normal equations
    return float(d[0]), float(d[1])


def texture_shift(method: RoundTrip, s: int, size: int = 192, seeds: int = 4) -> tuple[float, float]:
    """:func:`fit_shift` of the round trip, averaged over ``seeds`` textures."""
    fits = [fit_shift(hr, method(hr, s), 4 * s) for hr in (texture(size, seed) for seed in range(seeds))]
    return sum(f[0] for f in fits) / seeds, sum(f[1] for f in fits) / seeds


def expected_shift(name: str, s: int) -> float:
    """The analytic shift (both axes): 0 for centred kernels; nearest neighbour cannot be centred at
    even factors (MATLAB and nearest-exact take the sample right of the block's centre: -1/2);
    PyTorch's ``nearest`` takes the block's first pixel: the image moves by ``(s - 1) / 2``."""
    if name == "torch nearest":
        return (s - 1) / 2
    if name in ("srkit nearest", "torch nearest-exact"):
        return -0.5 if s % 2 == 0 else 0.0
    return 0.0


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("name", list(METHODS))
def test_round_trip_shift_of_a_ramp(name: str, s: int) -> None:
    dy, dx = ramp_shift(METHODS[name], s)
    want = expected_shift(name, s)
    assert dy == pytest.approx(want, abs=1e-9) and dx == pytest.approx(want, abs=1e-9), (dy, dx)


@pytest.mark.parametrize("name", ["srkit bicubic", "srkit bilinear", "srkit area", "torch area (seed)",
                                  "torch nearest", "srkit nearest"])  # fmt: skip
def test_round_trip_shift_of_textures(name: str) -> None:
    """The broadband fit agrees with the ramp within the aliasing noise."""
    s = 4
    dy, dx = texture_shift(METHODS[name], s, size=128, seeds=2)
    want = expected_shift(name, s)
    assert abs(dy - want) < 0.03 and abs(dx - want) < 0.03, (dy, dx)


def test_fit_recovers_a_known_shift() -> None:
    hr = texture(96, 0)
    spectrum = torch.fft.fft2(hr)
    ky, kx = torch.fft.fftfreq(96, dtype=torch.float64)[:, None], torch.fft.fftfreq(96, dtype=torch.float64)
    moved = torch.fft.ifft2(spectrum * torch.exp(-2j * math.pi * (ky * -0.3 + kx * 0.7))).real
    dy, dx = fit_shift(hr, moved, 8)
    assert dy == pytest.approx(-0.3, abs=1e-6) and dx == pytest.approx(0.7, abs=1e-6)


def table() -> str:
    """The markdown table of ``docs/transformers.md``: ``dy, dx`` per method and factor, both ways."""
    head = "| round trip (down, then up with the same method) | " + " | ".join(
        f"x{s} ramp | x{s} texture" for s in SCALES
    )
    lines = [head + " |", "|---" * (1 + 2 * len(SCALES)) + "|"]
    for name, method in METHODS.items():
        cells = []
        for s in SCALES:
            ramp, tex = ramp_shift(method, s), texture_shift(method, s)
            cells += [f"{ramp[0]:+.3f}, {ramp[1]:+.3f}", f"{tex[0]:+.3f}, {tex[1]:+.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
