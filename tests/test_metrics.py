"""Tests for ``srkit.metrics``: PSNR/SSIM as published SR tables compute them (8-bit, border shave, BT.601 Y,
Wang et al. 2004 SSIM), cross-checked against hand computations and scikit-image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_structural_similarity

from srkit.metrics import crop_problem, psnr, psnr_torch, quantize_uint8, rgb_to_y, ssim, ssim_torch

SSIM_TOL = 1e-10  # agreement with scikit-image (float64 on both sides)


def sk_ssim(a: np.ndarray, b: np.ndarray, channel_axis: int | None = None) -> float:
    """scikit-image SSIM configured as Wang et al. 2004 / the MATLAB SR scripts."""
    return float(
        sk_structural_similarity(
            np.asarray(a, dtype=np.float64),
            np.asarray(b, dtype=np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=channel_axis,
        )
    )


def random_u8(rng: np.random.Generator, shape: tuple[int, ...], lo: int = 0, hi: int = 256) -> np.ndarray:
    return rng.integers(lo, hi, size=shape, dtype=np.uint8)


def smooth_u8(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 4.0) -> np.ndarray:
    """Natural-like image: smoothed noise plus a gradient, stretched to 0..255."""
    noise = rng.standard_normal(shape)
    sig = (sigma, sigma, 0) if len(shape) == 3 else sigma
    ramp = np.linspace(-0.3, 0.3, shape[1])[None, :]
    img = gaussian_filter(noise, sig) + (ramp[:, :, None] if len(shape) == 3 else ramp)
    img = (img - img.min()) / (img.max() - img.min()) * 255.0
    return np.round(img).astype(np.uint8)


def degrade(rng: np.random.Generator, img: np.ndarray, noise: float = 8.0) -> np.ndarray:
    """A plausible 'SR output': blurred and noisy, rounded to 8 bit."""
    sig = (1.0, 1.0, 0) if img.ndim == 3 else 1.0
    out = gaussian_filter(img.astype(np.float64), sig) + rng.normal(0.0, noise, img.shape)
    return quantize_uint8(out)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) uint8 -> (1, C, H, W) float64 in [0, 1]."""
    arr = img[:, :, None] if img.ndim == 2 else img
    return torch.from_numpy(arr.astype(np.float64) / 255.0).permute(2, 0, 1).unsqueeze(0)


# ---------------------------------------------------------------------------------------------- conversions


def test_rgb_to_y_reference_colours() -> None:
    colours = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    y = rgb_to_y(colours)
    assert y.shape == (1, 5)
    assert y.dtype == np.float64
    np.testing.assert_allclose(
        y[0], [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], rtol=0, atol=1e-10
    )


def test_rgb_to_y_is_not_rounded_and_accepts_float() -> None:
    y = rgb_to_y(np.array([[[10, 20, 30]]], dtype=np.uint8))[0, 0]
    expected = 16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255
    assert y == pytest.approx(expected, abs=1e-12)
    assert abs(y - round(y)) > 0.1  # 29.5... stays fractional
    assert rgb_to_y(np.array([[[10.0, 20.0, 30.0]]]))[0, 0] == pytest.approx(expected, abs=1e-12)


def test_rgb_to_y_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(np.zeros((4, 4, 4), dtype=np.uint8))


def test_quantize_uint8_rounds_half_up_and_clips() -> None:
    x = np.array([100.4, 100.5, 100.6, -3.0, 254.6, 300.0, 0.49])
    np.testing.assert_array_equal(quantize_uint8(x), [100, 101, 101, 0, 255, 255, 0])
    assert quantize_uint8(x).dtype == np.uint8
    np.testing.assert_array_equal(quantize_uint8(np.array([0, 7, 255], dtype=np.int64)), [0, 7, 255])
    with pytest.raises(ValueError, match=r"0\.\.255"):
        quantize_uint8(np.array([-1, 256]))
    with pytest.raises(ValueError, match="non-finite"):
        quantize_uint8(np.array([1.0, np.nan]))


# --------------------------------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("d", [1, 2, 5, 17])
@pytest.mark.parametrize("shape", [(24, 20), (24, 20, 3)])
def test_psnr_constant_offset(d: int, shape: tuple[int, ...]) -> None:
    hr = random_u8(np.random.default_rng(d), shape, 20, 200)
    sr = hr + np.uint8(d)
    assert psnr(sr, hr) == pytest.approx(20 * math.log10(255 / d), abs=1e-10)
    assert psnr(hr, sr) == pytest.approx(20 * math.log10(255 / d), abs=1e-10)


def test_psnr_hand_computation_sparse_errors() -> None:
    hr = np.full((10, 12, 3), 50, dtype=np.uint8)
    sr = hr.copy()
    sr[3, 4, 0] = 80  # error 30
    sr[7, 1, 2] = 10  # error 40
    mse = (30**2 + 40**2) / hr.size
    assert psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-10)


def test_identical_images_give_inf_and_one() -> None:
    img = random_u8(np.random.default_rng(0), (32, 32, 3))
    assert psnr(img, img) == float("inf")
    assert psnr(img, img.copy(), y_channel=True) == float("inf")
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert ssim(img, img, y_channel=True) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("y_channel", [False, True])
def test_crop_border_removes_border_errors(y_channel: bool) -> None:
    rng = np.random.default_rng(1)
    hr = random_u8(rng, (40, 36, 3), 10, 240)
    c = 4
    sr = hr.copy()
    for side in (np.s_[:c], np.s_[-c:]):
        sr[side] = 255 - sr[side]  # large errors in the top/bottom bands ...
        sr[:, side] = 255 - hr[:, side]  # ... and in the left/right bands
    assert psnr(sr, hr, crop_border=c, y_channel=y_channel) == float("inf")
    assert ssim(sr, hr, crop_border=c, y_channel=y_channel) == pytest.approx(1.0, abs=1e-12)
    assert psnr(sr, hr, crop_border=c - 1, y_channel=y_channel) < 30
    # one bad row/column left at the edge only touches the Gaussian tails of the outermost windows
    assert ssim(sr, hr, crop_border=c - 1, y_channel=y_channel) < 1.0 - 1e-4

    # with an interior error as well, the cropped PSNR is that of the interior alone
    sr[c:-c, c:-c] = hr[c:-c, c:-c] + np.uint8(3)
    expected = 20 * math.log10(255 / 3) if not y_channel else 20 * math.log10(255 / (3 * 219 / 255))
    assert psnr(sr, hr, crop_border=c, y_channel=y_channel) == pytest.approx(expected, abs=1e-9)


def test_psnr_y_channel_matches_hand_computation() -> None:
    rng = np.random.default_rng(2)
    hr = random_u8(rng, (30, 28, 3))
    sr = random_u8(rng, (30, 28, 3))
    c = 2
    ya, yb = rgb_to_y(sr)[c:-c, c:-c], rgb_to_y(hr)[c:-c, c:-c]
    expected = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert psnr(sr, hr, crop_border=c, y_channel=True) == pytest.approx(expected, abs=1e-10)
    assert psnr(sr, hr, crop_border=c, y_channel=True) != pytest.approx(psnr(sr, hr, crop_border=c), abs=0.1)


def test_grayscale_is_scored_on_its_values() -> None:
    rng = np.random.default_rng(3)
    hr = random_u8(rng, (32, 32), 20, 200)
    sr = hr + np.uint8(5)
    gray = 20 * math.log10(255 / 5)
    assert psnr(sr, hr, y_channel=True) == pytest.approx(gray, abs=1e-10)
    assert psnr(sr, hr, y_channel=False) == pytest.approx(gray, abs=1e-10)
    # an RGB image with equal channels is RGB: the Y formula scales differences by 219/255
    sr3, hr3 = np.repeat(sr[:, :, None], 3, axis=2), np.repeat(hr[:, :, None], 3, axis=2)
    assert psnr(sr3, hr3, y_channel=True) == pytest.approx(gray + 20 * math.log10(255 / 219), abs=1e-9)
    assert psnr(sr3, hr3, y_channel=False) == pytest.approx(gray, abs=1e-10)
    # SSIM: gray values with L = 255, not the Y-converted ones
    sr_n = degrade(rng, hr)
    sr_n3 = np.repeat(sr_n[:, :, None], 3, axis=2)
    assert ssim(sr_n, hr, y_channel=True) == pytest.approx(sk_ssim(sr_n, hr), abs=SSIM_TOL)
    y_version = sk_ssim(rgb_to_y(sr_n3), rgb_to_y(hr3))
    assert ssim(sr_n3, hr3, y_channel=True) == pytest.approx(y_version, abs=SSIM_TOL)
    assert abs(ssim(sr_n, hr, y_channel=True) - y_version) > 1e-4


@pytest.mark.parametrize("y_channel", [False, True])
def test_hw1_equals_hw(y_channel: bool) -> None:
    rng = np.random.default_rng(4)
    hr = smooth_u8(rng, (40, 44))
    sr = degrade(rng, hr)
    p2 = psnr(sr, hr, crop_border=3, y_channel=y_channel)
    s2 = ssim(sr, hr, crop_border=3, y_channel=y_channel)
    assert math.isfinite(p2) and 0 < s2 < 1
    assert psnr(sr[:, :, None], hr[:, :, None], crop_border=3, y_channel=y_channel) == p2
    assert ssim(sr[:, :, None], hr[:, :, None], crop_border=3, y_channel=y_channel) == s2


def test_float_input_is_rounded_first() -> None:
    rng = np.random.default_rng(5)
    hr = random_u8(rng, (24, 24, 3), 10, 240)
    assert psnr(hr.astype(np.float64) + 0.4, hr) == float("inf")  # 100.4 -> 100
    assert psnr(hr.astype(np.float32) - 0.4, hr) == float("inf")
    up = hr.astype(np.float64) + 0.6  # 100.6 -> 101
    assert psnr(up, hr) == pytest.approx(20 * math.log10(255), abs=1e-10)
    assert psnr(up, hr) == psnr(hr + np.uint8(1), hr)
    assert ssim(up, hr) == ssim(hr + np.uint8(1), hr)
    # clipping: values outside 0..255 count as 0 / 255
    assert psnr(np.full((16, 16), 300.0), np.full((16, 16), 255, dtype=np.uint8)) == float("inf")


def test_shape_mismatch_raises_one_line_value_error() -> None:
    a, b = np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8)
    for fn in (psnr, ssim):
        with pytest.raises(ValueError) as info:
            fn(a, b)
        msg = str(info.value)
        assert "(16, 16, 3)" in msg and "(16, 17, 3)" in msg and "\n" not in msg


def test_invalid_arguments() -> None:
    img = np.zeros((20, 20), np.uint8)
    with pytest.raises(ValueError, match="crop_border"):
        psnr(img, img, crop_border=-1)
    with pytest.raises(ValueError, match="crop_border=10"):
        psnr(img, img, crop_border=10)
    with pytest.raises(ValueError, match="11x11"):
        ssim(img, img, crop_border=5)  # 10x10 left, smaller than the SSIM window
    assert ssim(img[:11, :11], img[:11, :11]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 4), np.uint8))


def test_crop_problem_says_why_an_image_cannot_be_scored() -> None:
    """The rule behind the ValueErrors above, as a reason ``srkit eval`` can skip an image with."""
    assert crop_problem(11, 11, 0) is None and crop_problem(15, 13, 1) is None
    assert crop_problem(4, 4, 2) == "4x4 with a border crop of 2 leaves 0x0 pixels; at least 11x11 are needed"
    assert (
        crop_problem(16, 23, 3)
        == "23x16 with a border crop of 3 leaves 17x10 pixels; at least 11x11 are needed"
    )
    assert crop_problem(12, 40, 1) is not None  # width x height: 38x10 left
    assert crop_problem(20, 20, 5, min_size=10) is None and crop_problem(20, 20, 5) is not None
    img = np.zeros((20, 20), np.uint8)
    for border in range(12):  # exactly the cases ssim refuses
        refused = crop_problem(20, 20, border) is not None
        if refused:
            with pytest.raises(ValueError, match="11x11"):
                ssim(img, img, crop_border=border)
        else:
            assert ssim(img, img, crop_border=border) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------- SSIM


def test_ssim_constant_images_hand_computation() -> None:
    # no variance anywhere: SSIM = (2ab + C1) / (a^2 + b^2 + C1) exactly
    a, b = 100.0, 140.0
    c1 = (0.01 * 255) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    got = ssim(np.full((20, 25), a), np.full((20, 25), b))
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("kind", ["random", "smooth"])
@pytest.mark.parametrize("shape", [(48, 40), (48, 40, 3)])
def test_ssim_matches_skimage(kind: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(6)
    if kind == "random":
        hr, sr = random_u8(rng, shape), random_u8(rng, shape)
    else:
        hr = smooth_u8(rng, shape)
        sr = degrade(rng, hr)
    channel_axis = 2 if len(shape) == 3 else None
    expected = sk_ssim(sr, hr, channel_axis=channel_axis)
    assert ssim(sr, hr) == pytest.approx(expected, abs=SSIM_TOL)
    if channel_axis is not None:
        per_channel = [sk_ssim(sr[:, :, k], hr[:, :, k]) for k in range(3)]
        assert ssim(sr, hr) == pytest.approx(np.mean(per_channel), abs=SSIM_TOL)
        c = 3
        y_expected = sk_ssim(rgb_to_y(sr)[c:-c, c:-c], rgb_to_y(hr)[c:-c, c:-c])
        assert ssim(sr, hr, crop_border=c, y_channel=True) == pytest.approx(y_expected, abs=SSIM_TOL)
    if kind == "random":
        assert abs(ssim(sr, hr)) < 0.05  # independent noise images are structurally unrelated
    else:
        assert 0.3 < ssim(sr, hr) < 0.99


def test_ssim_border_rows_count_once_valid_windows_reach_them() -> None:
    # with 'valid' filtering the last row is covered by the bottom windows, so changing it lowers SSIM;
    # shaving one pixel removes it again
    rng = np.random.default_rng(7)
    hr = smooth_u8(rng, (20, 20))
    sr = hr.copy()
    sr[-1] = 255 - sr[-1]
    assert ssim(sr, hr) < 0.999
    assert ssim(sr, hr, crop_border=1) == pytest.approx(1.0, abs=1e-12)
    assert ssim(sr, hr) == pytest.approx(sk_ssim(sr, hr), abs=SSIM_TOL)


# -------------------------------------------------------------------------------------------------- torch


def _pairs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    rgb = smooth_u8(rng, (36, 40, 3))
    gray = smooth_u8(rng, (36, 40))
    return [(degrade(rng, rgb), rgb), (degrade(rng, gray), gray), (random_u8(rng, (36, 40, 3)), rgb)]


@pytest.mark.parametrize("y_channel", [False, True])
@pytest.mark.parametrize("crop_border", [0, 4])
def test_torch_matches_numpy(y_channel: bool, crop_border: int) -> None:
    for sr, hr in _pairs(np.random.default_rng(8)):
        kw = {"crop_border": crop_border, "y_channel": y_channel}
        p = psnr_torch(to_tensor(sr), to_tensor(hr), **kw)
        s = ssim_torch(to_tensor(sr), to_tensor(hr), **kw)
        assert p.shape == (1,) and s.shape == (1,)
        assert p.dtype == torch.float64
        assert p.item() == pytest.approx(psnr(sr, hr, **kw), abs=1e-6)
        assert s.item() == pytest.approx(ssim(sr, hr, **kw), abs=1e-6)
        # same numbers on the 0..255 scale
        p255 = psnr_torch(to_tensor(sr) * 255, to_tensor(hr) * 255, data_range=255.0, **kw)
        s255 = ssim_torch(to_tensor(sr) * 255, to_tensor(hr) * 255, data_range=255.0, **kw)
        assert p255.item() == pytest.approx(p.item(), abs=1e-6)
        assert s255.item() == pytest.approx(s.item(), abs=1e-9)


def test_torch_float32_close_to_numpy() -> None:
    sr, hr = _pairs(np.random.default_rng(9))[0]
    p = psnr_torch(to_tensor(sr).float(), to_tensor(hr).float(), crop_border=2, y_channel=True)
    s = ssim_torch(to_tensor(sr).float(), to_tensor(hr).float(), crop_border=2, y_channel=True)
    assert p.dtype == torch.float32
    assert p.item() == pytest.approx(psnr(sr, hr, crop_border=2, y_channel=True), abs=1e-3)
    assert s.item() == pytest.approx(ssim(sr, hr, crop_border=2, y_channel=True), abs=1e-3)


def test_torch_is_batched() -> None:
    rng = np.random.default_rng(10)
    hrs = [smooth_u8(rng, (32, 30, 3)) for _ in range(3)]
    srs = [degrade(rng, h, noise) for h, noise in zip(hrs, (2.0, 8.0, 20.0), strict=True)]
    sr_b = torch.cat([to_tensor(s) for s in srs])
    hr_b = torch.cat([to_tensor(h) for h in hrs])
    p = psnr_torch(sr_b, hr_b, y_channel=True)
    s = ssim_torch(sr_b, hr_b, y_channel=True)
    assert p.shape == (3,) and s.shape == (3,)
    for i in range(3):
        assert p[i].item() == pytest.approx(psnr(srs[i], hrs[i], y_channel=True), abs=1e-6)
        assert s[i].item() == pytest.approx(ssim(srs[i], hrs[i], y_channel=True), abs=1e-6)
    assert p[0] > p[1] > p[2]  # more noise, lower PSNR
    identical = psnr_torch(hr_b, hr_b)
    assert torch.isinf(identical).all()


def test_torch_gradients_flow() -> None:
    rng = np.random.default_rng(11)
    hr = to_tensor(smooth_u8(rng, (24, 24, 3)))
    sr = to_tensor(degrade(rng, smooth_u8(rng, (24, 24, 3)))).requires_grad_(True)
    for fn in (psnr_torch, ssim_torch):
        sr.grad = None
        fn(sr, hr, crop_border=1, y_channel=True).sum().backward()
        assert sr.grad is not None
        assert torch.isfinite(sr.grad).all()
        assert sr.grad.abs().sum() > 0
        assert sr.grad[..., 0, :].abs().sum() == 0  # the shaved border gets no gradient


def test_torch_invalid_inputs() -> None:
    a = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError) as info:
        psnr_torch(a, torch.zeros(2, 3, 16, 15))
    assert "(2, 3, 16, 16)" in str(info.value) and "(2, 3, 16, 15)" in str(info.value)
    with pytest.raises(ValueError, match="11x11"):
        ssim_torch(a, a, crop_border=3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        psnr_torch(a[0], a[0])
    with pytest.raises(TypeError, match="floating"):
        psnr_torch(a.to(torch.uint8), a.to(torch.uint8))


# ------------------------------------------------------------------------------------------ real images


def _set5(shared_data: Path, name: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """HR mod-cropped to the scale, and a bicubic (PIL, Keys a = -0.5) upscale of the MATLAB LR image."""
    hr = np.asarray(Image.open(shared_data / "Set5" / f"{name}.png").convert("RGB"))
    h, w = hr.shape[:2]
    hr = hr[: h - h % scale, : w - w % scale]
    lr = Image.open(shared_data / "Set5_LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png").convert("RGB")
    sr = np.asarray(lr.resize((hr.shape[1], hr.shape[0]), Image.Resampling.BICUBIC))
    return sr, hr


def test_set5_image_matches_skimage(shared_data: Path) -> None:
    s = 4
    sr, hr = _set5(shared_data, "butterfly", s)
    ya, yb = rgb_to_y(sr)[s:-s, s:-s], rgb_to_y(hr)[s:-s, s:-s]
    assert ssim(sr, hr, crop_border=s, y_channel=True) == pytest.approx(sk_ssim(ya, yb), abs=SSIM_TOL)
    assert psnr(sr, hr, crop_border=s, y_channel=True) == pytest.approx(
        sk_psnr(yb, ya, data_range=255), abs=1e-10
    )
    assert ssim(sr, hr, crop_border=s) == pytest.approx(
        sk_ssim(sr[s:-s, s:-s], hr[s:-s, s:-s], channel_axis=2), abs=SSIM_TOL
    )
    assert psnr(sr, hr, crop_border=s) == pytest.approx(
        sk_psnr(hr[s:-s, s:-s], sr[s:-s, s:-s], data_range=255), abs=1e-10
    )


@pytest.mark.parametrize(
    ("scale", "ref_psnr", "ref_ssim"), [(2, 33.66, 0.9299), (3, 30.39, 0.8682), (4, 28.42, 0.8104)]
)
def test_set5_bicubic_matches_published_table(
    shared_data: Path, scale: int, ref_psnr: float, ref_ssim: float
) -> None:
    # The residual (about 0.01 dB) comes from the upscaler (PIL, not MATLAB imresize), not the metric;
    # RGB instead of Y would be ~1.8 dB off, a uniform 7x7 SSIM window ~0.007-0.012 off.
    names = ["baby", "bird", "butterfly", "head", "woman"]
    pairs = [_set5(shared_data, n, scale) for n in names]
    mean_psnr = np.mean([psnr(sr, hr, crop_border=scale, y_channel=True) for sr, hr in pairs])
    mean_ssim = np.mean([ssim(sr, hr, crop_border=scale, y_channel=True) for sr, hr in pairs])
    assert mean_psnr == pytest.approx(ref_psnr, abs=0.02)
    assert mean_ssim == pytest.approx(ref_ssim, abs=0.001)


def test_luma_beside_rgb_is_scored_against_the_hr_y_rounded_to_8_bit() -> None:
    """A luminance network's own Y (one channel) beside an RGB HR: the HR's Y is rounded to 8 bit, as
    MATLAB's ``rgb2ycbcr`` on a uint8 image gives it, so the pair scores as the two 8-bit Y images."""
    rng = np.random.default_rng(3)
    hr = random_u8(rng, (40, 36, 3))
    hr_y = np.floor(rgb_to_y(hr.astype(np.float64)) + 0.5)
    sr_y = np.clip(hr_y + rng.normal(0, 4, hr_y.shape), 0, 255)
    want_psnr = psnr(sr_y, hr_y, crop_border=2)
    assert psnr(sr_y, hr, crop_border=2, y_channel=True) == pytest.approx(want_psnr, abs=1e-12)
    assert psnr(sr_y[:, :, None], hr, crop_border=2, y_channel=True) == pytest.approx(want_psnr, abs=1e-12)
    assert ssim(sr_y, hr, crop_border=2, y_channel=True) == pytest.approx(
        ssim(sr_y, hr_y, crop_border=2), abs=1e-12
    )
    # the unrounded HR Y (the RGB convention) gives a different number, so the rounding is what is tested
    unrounded = rgb_to_y(hr.astype(np.float64))[2:-2, 2:-2]
    mse = np.mean((np.floor(sr_y[2:-2, 2:-2] + 0.5) - unrounded) ** 2)
    assert abs(10 * math.log10(255**2 / mse) - want_psnr) > 1e-3
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(sr_y[:-1], hr, y_channel=True)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(sr_y, hr)  # without y_channel a Y image is not comparable with RGB
