"""Tests for ``srkit.degrade.resize``: MATLAB ``imresize`` semantics, checked bit-exactly against the
MATLAB-made Set5 LR images and against hand-derived numbers."""

from __future__ import annotations

import importlib
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srkit.archs import InterpolationUpscaler
from srkit.colour import to_uint8
from srkit.degrade import KERNELS, contributions, mod_crop, resize, round_half_away
from srkit.degrade.resize import output_length, pass_plan, resize_dim_order, store_rounded_uint8
from srkit.errors import ConfigError

SET5 = ("baby", "bird", "butterfly", "head", "woman")
LINEAR_KERNELS = ("bicubic", "bilinear")  # reproduce a linear ramp exactly in the interior


def _load_chw(path: Path) -> torch.Tensor:
    """A PNG as a ``(3, H, W)`` uint8 tensor."""
    with Image.open(path) as img:
        arr = np.array(img.convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _ramp(h: int = 64, w: int = 64) -> torch.Tensor:
    """``value(i, j) = j`` (float64): a linear ramp along x."""
    return torch.arange(w, dtype=torch.float64).expand(h, w).clone()


# ----------------------------------------------------------------------------- golden MATLAB data


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", SET5)
def test_set5_uint8_bicubic_matches_matlab_bit_exactly(shared_data: Path, name: str, scale: int) -> None:
    hr = mod_crop(_load_chw(shared_data / "Set5" / f"{name}.png"), scale)
    expected = _load_chw(shared_data / "Set5_LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png")
    lr = resize(hr, 1 / scale, kernel="bicubic")
    assert lr.dtype == torch.uint8
    assert lr.shape == expected.shape
    assert int((lr.int() - expected.int()).abs().max()) == 0


@pytest.mark.parametrize("name", SET5)
def test_set5_x8_float_path_matches_matlab_bit_exactly(shared_data: Path, name: str) -> None:
    hr = mod_crop(_load_chw(shared_data / "Set5" / f"{name}.png"), 8)
    expected = _load_chw(shared_data / "Set5_LR_bicubic" / "X8" / f"{name}x8.png")
    lr = resize(hr.double() / 255.0, 1 / 8, kernel="bicubic")
    assert lr.dtype == torch.float64
    lr8 = torch.clamp(round_half_away(lr * 255.0), 0, 255).to(torch.uint8)
    assert lr8.shape == expected.shape
    assert int((lr8.int() - expected.int()).abs().max()) == 0


# ----------------------------------------------------------------------------- alignment (no shift)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear", "area", "lanczos3"])
def test_downscaled_ramp_sits_on_centred_grid(kernel: str) -> None:
    lr = resize(_ramp(), 0.5, kernel=kernel)
    assert lr.shape == (32, 32)
    j = torch.arange(32, dtype=torch.float64)
    inner = slice(4, 28)  # away from the mirrored borders (lanczos3 x1/2 reaches 6 HR pixels out)
    torch.testing.assert_close(lr[:, inner], (2 * j + 0.5)[inner].expand(32, -1), rtol=0, atol=1e-9)


def test_nearest_downscale_picks_matlab_sample() -> None:
    # u = 2j + 0.5 (0-based) falls on the box edge; MATLAB's half-open box [-0.5, 0.5) takes pixel 2j + 1
    lr = resize(_ramp(), 0.5, kernel="nearest")
    assert torch.equal(lr[0], 2 * torch.arange(32, dtype=torch.float64) + 1)
    # x1/3: the sample is the centre pixel 3j + 1, no tie
    lr3 = resize(_ramp(63, 63), 1 / 3, kernel="nearest")
    assert torch.equal(lr3[0], 3 * torch.arange(21, dtype=torch.float64) + 1)


@pytest.mark.parametrize("kernel", LINEAR_KERNELS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_round_trip_of_ramp_is_not_shifted_linear_kernels(kernel: str, scale: int) -> None:
    ramp = _ramp(48, 96)
    back = resize(resize(ramp, 1 / scale, kernel=kernel), scale, kernel=kernel)
    assert back.shape == ramp.shape
    torch.testing.assert_close(back[:, 30:66], ramp[:, 30:66], rtol=0, atol=1e-9)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_round_trip_of_ramp_lanczos3_ripples_without_shift(scale: int) -> None:
    # normalised Lanczos weights do not reproduce a ramp at fractional offsets: a small ripple that is
    # antisymmetric within each period, so the mean error (a shift) is zero
    ramp = _ramp(48, 96)
    back = resize(resize(ramp, 1 / scale, kernel="lanczos3"), scale, kernel="lanczos3")
    err = back[:, 30:66] - ramp[:, 30:66]  # 36 columns: whole periods for 2, 3, 4
    assert 0.01 < float(err.abs().max()) < 0.07
    assert abs(float(err.mean())) < 1e-9


@pytest.mark.parametrize(
    ("kernel", "scale", "max_err", "mean_err"),
    [
        ("area", 2, 0.5, 0.0),  # block mean 2j+0.5 duplicated: errors +0.5, -0.5
        ("area", 3, 1.0, 0.0),  # block mean 3j+1 triplicated: errors +1, 0, -1
        ("nearest", 3, 1.0, 0.0),
        ("nearest", 2, 1.0, 0.5),  # MATLAB's tie rule: nearest x1/2 samples the right pixel of each pair
    ],
)
def test_round_trip_of_ramp_box_kernels(kernel: str, scale: int, max_err: float, mean_err: float) -> None:
    ramp = _ramp(48, 96)
    back = resize(resize(ramp, 1 / scale, kernel=kernel), scale, kernel=kernel)
    err = back[:, 30:66] - ramp[:, 30:66]
    assert float(err.abs().max()) == pytest.approx(max_err, abs=1e-12)
    assert float(err.mean()) == pytest.approx(mean_err, abs=1e-9)


# ----------------------------------------------------------------------------- weights and kernels


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("n_in", "n_out", "scale"), [(64, 16, 0.25), (30, 10, 1 / 3), (10, 25, 2.5), (7, 7, 1.0)]
)
def test_contribution_weights_sum_to_one_and_indices_in_range(
    kernel: str, n_in: int, n_out: int, scale: float
) -> None:
    idx, w = contributions(n_in, n_out, scale, kernel)
    assert idx.shape == w.shape and idx.shape[0] == n_out
    assert w.dtype == torch.float64
    torch.testing.assert_close(w.sum(dim=1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-12)
    assert int(idx.min()) >= 0 and int(idx.max()) < n_in


def test_bicubic_upscale_weights_are_keys_cubic() -> None:
    idx, w = contributions(8, 16, 2.0, "bicubic")
    # output 4 (0-based) samples u = 5/2 + 0.25 = 2.75 (1-based): distances 1.75, 0.75, -0.25, -1.25
    row = {int(i): float(v) for i, v in zip(idx[4].tolist(), w[4].tolist(), strict=True) if v != 0}
    assert row == pytest.approx({0: -0.0234375, 1: 0.2265625, 2: 0.8671875, 3: -0.0703125}, abs=1e-15)


def test_bilinear_antialiased_downscale_hand_computed_with_mirrored_border() -> None:
    # widened triangle at x1/2: weights 1/8, 3/8, 3/8, 1/8 around u = 1.5 and 3.5, mirrored at the edges
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    out = resize(x, size=(1, 2), kernel="bilinear")
    torch.testing.assert_close(out, torch.tensor([[1.625, 3.375]], dtype=torch.float64), rtol=0, atol=1e-12)


def test_bicubic_downscale_without_antialias_uses_narrow_kernel() -> None:
    # x1/2 without antialiasing: u = 2j + 1.5 (1-based) -> cubic weights at distances +-0.5, +-1.5
    x = torch.arange(8, dtype=torch.float64).reshape(1, 8) ** 2
    out = resize(x, (1, 0.5), kernel="bicubic", antialias=False)
    c05, c15 = 0.5625, -0.0625
    j = 2  # interior output: taps at 0-based 2j-1 .. 2j+2
    expected = c15 * (2 * j - 1) ** 2 + c05 * (2 * j) ** 2 + c05 * (2 * j + 1) ** 2 + c15 * (2 * j + 2) ** 2
    assert float(out[0, j]) == pytest.approx(expected, abs=1e-12)
    assert out.shape == (1, 4)


@pytest.mark.parametrize("kernel", KERNELS)
def test_identity_at_scale_one(kernel: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 13, 17, generator=g, dtype=torch.float64)
    out = resize(x, 1.0, kernel=kernel)
    if kernel == "lanczos3":  # sin(pi * k) is not exactly 0 in floating point
        torch.testing.assert_close(out, x, rtol=0, atol=1e-12)
    else:
        assert torch.equal(out, x)
    x8 = (x * 255).to(torch.uint8)
    assert torch.equal(resize(x8, 1.0, kernel=kernel), x8)


def test_nearest_upscale_by_two_duplicates_pixels() -> None:
    x = torch.arange(12, dtype=torch.float32).reshape(1, 3, 4)
    out = resize(x, 2, kernel="nearest")
    assert torch.equal(out, x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1))


def test_nearest_is_never_antialiased() -> None:
    x = torch.rand(2, 20, 24, generator=torch.Generator().manual_seed(1))
    assert torch.equal(resize(x, 0.5, kernel="nearest"), resize(x, 0.5, kernel="nearest", antialias=False))
    assert torch.equal(resize(x, 0.5, kernel="nearest"), x[:, 1::2, 1::2])


@pytest.mark.parametrize("factor", [2, 4])
def test_area_downscale_equals_block_mean(factor: int) -> None:
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = resize(x, 1 / factor, kernel="area")
    torch.testing.assert_close(out, F.avg_pool2d(x, factor), rtol=0, atol=1e-12)


def test_area_without_antialias_is_nearest() -> None:
    x = torch.rand(20, 24, generator=torch.Generator().manual_seed(3))
    assert torch.equal(resize(x, 0.5, kernel="area", antialias=False), resize(x, 0.5, kernel="nearest"))


def test_lanczos3_runs_and_keeps_constants() -> None:
    x = torch.full((3, 30, 40), 0.25, dtype=torch.float64)
    for scale in (0.25, 0.5, 2.0, 1.7):
        out = resize(x, scale, kernel="lanczos3")
        torch.testing.assert_close(out, torch.full_like(out, 0.25), rtol=0, atol=1e-12)
    g = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(4))
    up = resize(g, 2, kernel="lanczos3")
    assert up.shape == (1, 64, 64) and up.dtype == torch.float32
    assert float((up - resize(g, 2, kernel="bicubic")).abs().max()) > 1e-3  # a different kernel


# ----------------------------------------------------------------------------- shapes, layout, dtype


@pytest.mark.parametrize(
    ("hw", "scale", "expected"),
    [
        ((64, 64), 0.5, (32, 32)),
        ((64, 64), 1 / 3, (22, 22)),  # ceil(21.33)
        ((510, 255), 1 / 3, (170, 85)),  # exact multiples stay exact
        ((10, 12), 2.5, (25, 30)),
        ((20, 30), (0.5, 2.0), (10, 60)),
        ((9, 9), 0.25, (3, 3)),
    ],
)
def test_output_shape_from_scale(hw: tuple[int, int], scale: float, expected: tuple[int, int]) -> None:
    assert resize(torch.zeros(hw), scale).shape == expected


@pytest.mark.parametrize("kernel", KERNELS)
def test_output_shape_from_size(kernel: str) -> None:
    out = resize(torch.zeros(2, 3, 40, 30), size=(17, 45), kernel=kernel)
    assert out.shape == (2, 3, 17, 45)


def test_batched_equals_per_image_and_colour_equals_per_channel() -> None:
    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(5))
    out = resize(x, 0.5)
    for b in range(2):
        assert torch.equal(out[b], resize(x[b], 0.5))
        for c in range(3):
            assert torch.equal(out[b, c], resize(x[b, c], 0.5))  # gray (H, W)
    x8 = (x * 255).to(torch.uint8)
    assert torch.equal(resize(x8, 0.5)[1, 2], resize(x8[1, 2], 0.5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8])
def test_dtype_is_preserved(dtype: torch.dtype) -> None:
    x = (torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(6)) * 200).to(dtype)
    assert resize(x, 0.5).dtype == dtype


def test_float_path_neither_clamps_nor_rounds() -> None:
    step = torch.zeros(1, 16, dtype=torch.float64)
    step[:, 8:] = 1.0
    up = resize(step, (1, 2))  # bicubic overshoots at the edge
    assert float(up.min()) < -0.01 and float(up.max()) > 1.01
    frac = up - torch.round(up)
    assert float(frac.abs().max()) > 0.01


def test_uint8_path_rounds_each_pass() -> None:
    x = torch.rand(3, 30, 26, generator=torch.Generator().manual_seed(7))
    x8 = (x * 255).round().to(torch.uint8)
    out8 = resize(x8, 0.5)
    ref = resize(x8.double(), 0.5)
    assert out8.dtype == torch.uint8
    assert int((out8.int() - ref.round().clamp(0, 255).int()).abs().max()) <= 1
    # the same as two explicit 1-D uint8 passes, rows (height) first for equal scales
    two_pass = resize(resize(x8, (0.5, 1.0)), (1.0, 0.5))
    assert torch.equal(out8, two_pass)


def test_smaller_scale_dimension_is_resized_first() -> None:
    x8 = (torch.rand(1, 40, 40, generator=torch.Generator().manual_seed(8)) * 255).to(torch.uint8)
    out = resize(x8, (0.5, 0.25))  # width has the smaller scale -> width first
    assert torch.equal(out, resize(resize(x8, (1.0, 0.25)), (0.5, 1.0)))
    assert not torch.equal(out, resize(resize(x8, (0.5, 1.0)), (1.0, 0.25)))


def test_round_half_away_from_zero() -> None:
    v = torch.tensor([-2.5, -1.5, -0.5, 0.49999999999999994, 0.5, 1.5, 2.5, 2.4], dtype=torch.float64)
    expected = torch.tensor([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 2.0], dtype=torch.float64)
    assert torch.equal(round_half_away(v), expected)


# ----------------------------------------------------------------------------- errors


def test_unknown_kernel_names_it_and_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        resize(torch.zeros(4, 4), 0.5, kernel="gaussian")
    msg = str(err.value)
    assert "'gaussian'" in msg
    for name in KERNELS:
        assert name in msg


def test_scale_and_size_are_exclusive_and_validated() -> None:
    x = torch.zeros(8, 8)
    with pytest.raises(ConfigError, match="exactly one"):
        resize(x)
    with pytest.raises(ConfigError, match="exactly one"):
        resize(x, 0.5, size=(4, 4))
    with pytest.raises(ConfigError, match="positive"):
        resize(x, 0.0)
    with pytest.raises(ConfigError, match="positive"):
        resize(x, size=(0, 4))
    with pytest.raises(ConfigError, match="dtype"):
        resize(x.to(torch.int32), 0.5)
    with pytest.raises(ConfigError, match="shape"):
        resize(torch.zeros(8), 0.5)


# ----------------------------------------------------------------------------- mod_crop


def test_mod_crop_tensor_and_ndarray() -> None:
    t = torch.arange(2 * 3 * 11 * 13).reshape(2, 3, 11, 13)
    out = mod_crop(t, 4)
    assert out.shape == (2, 3, 8, 12) and torch.equal(out, t[..., :8, :12])
    a = np.arange(11 * 13 * 3).reshape(11, 13, 3)
    out_a = mod_crop(a, 3)
    assert isinstance(out_a, np.ndarray)
    assert out_a.shape == (9, 12, 3) and np.array_equal(out_a, a[:9, :12])
    assert mod_crop(np.zeros((10, 7)), 2).shape == (10, 6)
    assert mod_crop(t, 1).shape == t.shape
    with pytest.raises(ConfigError, match="positive integer"):
        mod_crop(t, 0)
    with pytest.raises(ConfigError, match="positive integer"):
        mod_crop(t, 2.0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- devices


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("kernel", KERNELS)
def test_cuda_matches_cpu(kernel: str) -> None:
    x = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    for scale in (0.25, 1 / 3, 2.0):
        cpu = resize(x, scale, kernel=kernel)
        gpu = resize(x.cuda(), scale, kernel=kernel)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-12)
    x8 = (x * 255).to(torch.uint8)
    assert torch.equal(resize(x8.cuda(), 0.5, kernel=kernel).cpu(), resize(x8, 0.5, kernel=kernel))


# ----------------------------------------------------------------------------- fast path vs the tap loop


def _tap_loop_pass(x: torch.Tensor, dim: int, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The straightforward 1-D pass: ``out = sum_k w[:, k] * x[idx[:, k]]``, tap by tap, each product
    formed before it is added (the algorithm ``resize`` used before its blocked gather)."""
    shape = [1] * x.dim()
    shape[dim] = w.shape[0]
    w = w.to(x.dtype)
    out = x.index_select(dim, idx[:, 0]) * w[:, 0].reshape(shape)
    for k in range(1, idx.shape[1]):
        out = out + x.index_select(dim, idx[:, k]) * w[:, k].reshape(shape)
    return out


def _reference_resize(
    x: torch.Tensor,
    scale: float | tuple[float, float] | None = None,
    *,
    size: tuple[int, int] | None = None,
    kernel: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """MATLAB ``imresize`` as a plain loop over the taps of ``contributions`` (the reference)."""
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    if size is not None:
        out_hw = size
        scales = (size[0] / in_hw[0], size[1] / in_hw[1])
    else:
        assert scale is not None
        scales = (float(scale), float(scale)) if isinstance(scale, (int, float)) else scale
        out_hw = (output_length(in_hw[0], scales[0]), output_length(in_hw[1], scales[1]))
    is_uint8 = x.dtype == torch.uint8
    work = torch.float64 if is_uint8 else (x.dtype if x.dtype == torch.float64 else torch.float32)
    y = x.to(work)
    for axis in resize_dim_order(scales):
        idx, w = contributions(in_hw[axis], out_hw[axis], scales[axis], kernel, antialias)
        y = _tap_loop_pass(y, y.dim() - 2 + axis, idx, w)
        if is_uint8:
            y = torch.clamp(round_half_away(y), 0.0, 255.0)
    return y.to(x.dtype)


def _random_uint8(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


FAST_PATH_SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4, 3.5, 0.37, 1.7, (0.5, 3.0), (2.5, 1 / 3)]


@pytest.mark.parametrize("scale", FAST_PATH_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_path_is_bit_identical_to_tap_loop_uint8(kernel: str, scale: float) -> None:
    x = _random_uint8((2, 3, 37, 29), seed=10)  # odd sizes, batch and colour
    for antialias in (True, False):
        out = resize(x, scale, kernel=kernel, antialias=antialias)
        assert out.dtype == torch.uint8
        assert torch.equal(out, _reference_resize(x, scale, kernel=kernel, antialias=antialias))
    gray = x[0, 0]  # (H, W)
    assert torch.equal(resize(gray, scale, kernel=kernel), _reference_resize(gray, scale, kernel=kernel))


@pytest.mark.parametrize("size", [(17, 45), (1, 1), (5, 90), (36, 28), (74, 11)])
@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_path_is_bit_identical_to_tap_loop_explicit_size(kernel: str, size: tuple[int, int]) -> None:
    x = _random_uint8((3, 37, 29), seed=11)
    assert torch.equal(resize(x, size=size, kernel=kernel), _reference_resize(x, size=size, kernel=kernel))
    xf = x.double() / 255
    torch.testing.assert_close(
        resize(xf, size=size, kernel=kernel),
        _reference_resize(xf, size=size, kernel=kernel),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("scale", FAST_PATH_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_path_matches_tap_loop_float(kernel: str, scale: float) -> None:
    x = _random_uint8((2, 3, 31, 23), seed=12).double() / 255 - 0.25  # negative values too
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        xd = x.to(dtype)
        out = resize(xd, scale, kernel=kernel)
        assert out.dtype == dtype
        torch.testing.assert_close(out, _reference_resize(xd, scale, kernel=kernel), rtol=tol, atol=tol)
    half = x.to(torch.bfloat16)
    torch.testing.assert_close(
        resize(half, scale, kernel=kernel), _reference_resize(half, scale, kernel=kernel)
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_path_float64_sums_taps_in_tap_order(kernel: str) -> None:
    # the blocked gather does exactly the tap loop's float64 operations, so the results are equal bit for
    # bit; a changed summation order (matmul, sum(-1), reversed taps, fused multiply-add) shows up here
    # even where no uint8 byte changes
    x = _random_uint8((2, 3, 31, 23), seed=20).double() / 255
    for scale in (1 / 3, 0.37, 3.5, (2.0, 0.25)):
        assert torch.equal(resize(x, scale, kernel=kernel), _reference_resize(x, scale, kernel=kernel))


@pytest.mark.parametrize("block", [1, 64, 1000, 5000])
def test_fast_path_blocks_cover_every_output(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    # tiny blocks: row ranges of one image (with a ragged last range) and groups of whole images
    # the module, not the function ``srkit.degrade.resize`` that shadows it as a package attribute
    monkeypatch.setattr(importlib.import_module("srkit.degrade.resize"), "_CPU_BLOCK", block)
    x = _random_uint8((5, 2, 23, 19), seed=13)
    for kernel, scale in (("bicubic", 3.0), ("lanczos3", 0.37), ("area", 0.5), ("bilinear", (2.0, 0.25))):
        assert torch.equal(resize(x, scale, kernel=kernel), _reference_resize(x, scale, kernel=kernel))
        xf = x.float() / 255
        torch.testing.assert_close(
            resize(xf, scale, kernel=kernel),
            _reference_resize(xf, scale, kernel=kernel),
            rtol=1e-6,
            atol=1e-6,
        )


def test_fast_path_large_image_with_default_blocks() -> None:
    # several default-sized blocks per pass (x4 up of 160x150: each pass gathers 1-4 M taps)
    x = _random_uint8((1, 3, 160, 150), seed=14)
    assert torch.equal(resize(x, 4.0), _reference_resize(x, 4.0))
    big = resize(x, 4.0)
    assert torch.equal(resize(big, 0.25), _reference_resize(big, 0.25))
    assert torch.equal(
        resize(x, size=(97, 301), kernel="lanczos3"), _reference_resize(x, size=(97, 301), kernel="lanczos3")
    )


def test_fast_path_on_non_contiguous_input() -> None:
    x = _random_uint8((2, 40, 33, 3), seed=15).permute(0, 3, 1, 2)  # channels-last view
    assert not x.is_contiguous()
    assert torch.equal(resize(x, 0.5), _reference_resize(x.contiguous(), 0.5))
    assert torch.equal(resize(x[..., ::2], 3.0), _reference_resize(x[..., ::2].contiguous(), 3.0))


def test_fast_path_stays_differentiable() -> None:
    x = torch.rand(2, 13, 11, generator=torch.Generator().manual_seed(21), dtype=torch.float64)
    pass_plan.cache_clear()
    with torch.inference_mode():  # the cached plan is made here first and then serves autograd
        resize(x, (3.0, 0.5))
    fast, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.rand(2, 39, 6, generator=torch.Generator().manual_seed(22), dtype=torch.float64)
    (resize(fast, (3.0, 0.5)) * g).sum().backward()
    (_reference_resize(ref, (3.0, 0.5)) * g).sum().backward()
    assert fast.grad is not None and ref.grad is not None
    torch.testing.assert_close(fast.grad, ref.grad, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert torch.equal(resize(fast, 0.5), _reference_resize(x, 0.5))


def test_fast_path_inside_and_outside_inference_mode_and_threads() -> None:
    # the CPU workspace is reused across calls: an inference-mode call first, then a plain one, then
    # no_grad, all exact; and threads get their own workspace
    x = _random_uint8((3, 41, 37), seed=23)
    expected = _reference_resize(x, 3.0)
    importlib.import_module("srkit.degrade.resize")._WORKSPACE.__dict__.pop("buffers", None)  # a cold start
    with torch.inference_mode():
        assert torch.equal(resize(x, 3.0), expected)
    assert torch.equal(resize(x, 3.0), expected)
    with torch.no_grad():
        assert torch.equal(resize(x, 3.0), expected)
    images = [_random_uint8((3, 29 + i, 31), seed=30 + i) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda im: resize(im, 0.37, kernel="lanczos3"), images))
    for im, out in zip(images, outs, strict=True):
        assert torch.equal(out, _reference_resize(im, 0.37, kernel="lanczos3"))


def _tie_probes() -> torch.Tensor:
    """Every integer and half-integer of ``[-3, 258.5]`` with their neighbours a few ulps either side,
    the classic ``0.49999999999999994``, huge values and random doubles."""
    centres = torch.arange(-6, 518, dtype=torch.float64) / 2
    probes = [centres]
    for direction in (-1.0, 1.0):
        cur = centres.clone()
        for _ in range(4):
            cur = torch.nextafter(cur, torch.full_like(cur, direction * math.inf))
            probes.append(cur)
    extra = [0.49999999999999994, -0.49999999999999994, 0.5, -0.5, 255.5, 255.49999999999997, 1e300, -1e300]
    probes.append(torch.tensor(extra, dtype=torch.float64))
    probes.append(
        torch.rand(100_000, generator=torch.Generator().manual_seed(16), dtype=torch.float64) * 280 - 10
    )
    return torch.cat(probes)


def test_store_rounded_uint8_rounds_half_away_and_clamps_exactly() -> None:
    v = _tie_probes()
    expected = torch.clamp(round_half_away(v), 0.0, 255.0).to(torch.uint8)
    out = torch.empty(v.shape, dtype=torch.uint8)
    store_rounded_uint8(v.clone(), out)
    assert torch.equal(out, expected)
    out2 = torch.zeros(v.shape, dtype=torch.uint8)
    store_rounded_uint8(v.clone(), out2, torch.empty(0, dtype=torch.int32))  # with an int32 scratch
    assert torch.equal(out2, expected)


def test_uint8_exact_ties_round_half_away_from_zero() -> None:
    # area x1/2 averages pairs: 0.5, 2.5, 254.5 are exact ties in each pass (rounded up, not to even)
    x = torch.tensor([[0, 1, 2, 3, 254, 255]], dtype=torch.uint8)
    assert resize(x, size=(1, 3), kernel="area").tolist() == [[1, 3, 255]]
    # bilinear x2 blends neighbours 1/4 : 3/4, many exact ties; random images agree with the tap loop
    y = _random_uint8((3, 21, 17), seed=17)
    for kernel, scale in (("bilinear", 2.0), ("area", 0.5), ("bilinear", 0.5)):
        assert torch.equal(resize(y, scale, kernel=kernel), _reference_resize(y, scale, kernel=kernel))


def test_pass_plan_cache_is_consistent() -> None:
    pass_plan.cache_clear()
    cpu = torch.device("cpu")
    plan = pass_plan(37, 111, 3.0, "bicubic", True, cpu, torch.float64)
    again = pass_plan(37, 111, 3.0, "bicubic", True, cpu, torch.float64)
    assert again is plan and pass_plan.cache_info().hits == 1
    idx, w = contributions(37, 111, 3.0, "bicubic")
    assert torch.equal(plan.rows, idx.t()) and torch.equal(plan.weights[..., 0], w.t())
    assert (plan.taps, plan.out_length) == (idx.shape[1], 111)
    # contributions hands out fresh tensors: scribbling on them leaves the cached plan alone
    idx.zero_()
    w.zero_()
    assert torch.equal(pass_plan(37, 111, 3.0, "bicubic", True, cpu, torch.float64).weights, plan.weights)
    assert float(plan.weights.sum()) == pytest.approx(111.0)
    f32 = pass_plan(37, 111, 3.0, "bicubic", True, cpu, torch.float32)
    assert f32 is not plan and f32.weights.dtype == torch.float32
    assert pass_plan(37, 111, 3.0, "bicubic", False, cpu, torch.float64) is not plan
    # resizing with a cold and a warm cache gives the same bytes
    x = _random_uint8((3, 37, 37), seed=18)
    warm = resize(x, 3.0)
    pass_plan.cache_clear()
    assert torch.equal(resize(x, 3.0), warm)
    assert torch.equal(resize(x, 3.0), warm)


@pytest.mark.parametrize("kernel", KERNELS)
def test_interpolation_upscaler_uses_the_exact_uint8_path(kernel: str) -> None:
    lr = torch.rand(2, 3, 19, 13, generator=torch.Generator().manual_seed(19))
    for scale in (2, 3, 4):
        up = InterpolationUpscaler(kernel)(lr, scale)
        expected = _reference_resize(to_uint8(lr), float(scale), kernel=kernel).to(lr.dtype) / 255
        assert up.shape == (2, 3, 19 * scale, 13 * scale)
        assert torch.equal(up, expected)
