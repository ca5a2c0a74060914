"""Degradations beyond resampling kernels (issue 17): fixed Gaussian blur (isotropic, anisotropic),
Gaussian noise, JPEG and their combinations as named groups; the LR is a pure function of
``(image, group, seed)``; training windows and evaluation use them."""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from srkit.cli import main
from srkit.data.train import GroupWeight, SRTrainDataset, degrade_window
from srkit.degrade import GROUPS, get_group, parse_groups, resize
from srkit.degrade.groups import REAL_GROUPS
from srkit.degrade.real import AddNoise, GaussianBlur, JpegRoundTrip
from srkit.errors import ConfigError
from srkit.io import write_image


def _image(h: int = 48, w: int = 40, seed: int = 0) -> torch.Tensor:
    """A smooth-plus-texture uint8 RGB image (C, H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 4, yy * 3, (xx + yy) * 2], axis=0) % 256
    noise = rng.integers(-20, 21, (3, h, w))
    return torch.from_numpy(np.clip(base + noise, 0, 255).astype(np.uint8))


# -- blur ---------------------------------------------------------------------------------------------


def test_isotropic_kernel_is_the_normalised_separable_gaussian() -> None:
    blur = GaussianBlur(1.6)
    k = blur.kernel()
    assert blur.radius == 5 and k.shape == (11, 11)
    t = torch.arange(-5, 6, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / 1.6) ** 2)
    torch.testing.assert_close(k, torch.outer(g, g) / torch.outer(g, g).sum(), rtol=0, atol=1e-15)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-12)


def test_anisotropic_kernel_follows_its_axis() -> None:
    def spread(k: torch.Tensor) -> tuple[float, float]:
        t = torch.arange(k.shape[0], dtype=torch.float64) - k.shape[0] // 2
        return float((k.sum(0) * t**2).sum()), float((k.sum(1) * t**2).sum())  # variance along x, y

    along_x = GaussianBlur(3.0, 1.0, 0.0).kernel()
    vx, vy = spread(along_x)
    assert vx == pytest.approx(9.0, rel=0.02) and vy == pytest.approx(1.0, rel=0.02)
    torch.testing.assert_close(GaussianBlur(3.0, 1.0, 90.0).kernel(), along_x.T, rtol=0, atol=1e-12)
    diagonal = GaussianBlur(3.0, 1.0, 45.0).kernel()
    torch.testing.assert_close(diagonal, diagonal.T, rtol=0, atol=1e-12)
    assert float(diagonal[10, 10]) > float(diagonal[10, 8])  # mass along the diagonal, 9 = centre


def test_blur_keeps_flat_images_and_rounds_uint8() -> None:
    flat = torch.full((3, 20, 20), 77, dtype=torch.uint8)
    assert torch.equal(GaussianBlur(2.0)(flat), flat)  # replicated borders: a flat image stays flat
    x = _image()
    out = GaussianBlur(1.0)(x)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    ref = GaussianBlur(1.0)(x.double())
    assert torch.equal(out, torch.floor(ref + 0.5).clamp(0, 255).to(torch.uint8))


def test_blur_group_is_blur_then_bicubic() -> None:
    x = _image()
    group = get_group("blur1.6")
    assert group.kernel == "bicubic" and group.blur == GaussianBlur(1.6) and not group.random
    assert torch.equal(group.degrade(x, 2), resize(GaussianBlur(1.6)(x), 0.5, kernel="bicubic"))


# -- noise, JPEG ------------------------------------------------------------------------------------


def test_noise_has_its_sigma_and_is_a_pure_function_of_image_group_seed() -> None:
    gray = torch.full((1, 256, 256), 128, dtype=torch.uint8)
    group = get_group("noise10")
    lr = group.degrade(gray, 2)
    diff = lr.double() - 128
    assert abs(float(diff.std()) - 10.0) < 0.3 and abs(float(diff.mean())) < 0.2
    assert torch.equal(group.degrade(gray, 2), lr)  # same image, group, seed
    assert not torch.equal(group.degrade(gray, 2, seed=1), lr)  # another seed
    other = gray.clone()
    other[0, 0, 0] = 129
    assert (group.degrade(other, 2)[0, 1:, 1:] != lr[0, 1:, 1:]).any()  # another image: another field
    # float images: clipped to [0, 1], the same dtype
    out = group.degrade(gray.float() / 255, 2)
    assert out.dtype == torch.float32 and float(out.min()) >= 0 and float(out.max()) <= 1
    assert abs(float((out * 255 - 128).std()) - 10.0) < 0.3


def test_noise_group_depends_on_the_seed_only_through_its_noise() -> None:
    assert get_group("noise10").random and not get_group("jpeg50").random and not get_group("blur1").random
    with pytest.raises(ConfigError, match="noise sigma"):
        AddNoise(0.0)


def test_jpeg_group_is_a_pillow_round_trip_of_the_bicubic_lr() -> None:
    x = _image(64, 64)
    lr = resize(x, 0.5, kernel="bicubic")
    buffer = io.BytesIO()
    PILImage.fromarray(lr.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=30)
    want = torch.from_numpy(np.asarray(PILImage.open(io.BytesIO(buffer.getvalue())).convert("RGB")).copy())
    got = get_group("jpeg30").degrade(x, 2)
    assert torch.equal(got, want.permute(2, 0, 1))
    err = {
        q: float((get_group(f"jpeg{q}").degrade(x, 2).double() - lr.double()).abs().mean()) for q in (10, 90)
    }
    assert err[10] > 2 * err[90] > 0
    gray = get_group("jpeg50").degrade(x[:1], 2)
    assert gray.shape == (1, 32, 32)
    with pytest.raises(ConfigError, match="JPEG quality"):
        JpegRoundTrip(101)


# -- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "canonical", "kernel"),
    [
        ("noise10+blur1.6", "blur1.6+noise10", "bicubic"),
        ("bicubic+jpeg30", "jpeg30", "bicubic"),
        ("JPEG30+Nearest", "nearest+jpeg30", "nearest"),
        ("blur2x0.5a45+lanczos3+noise5+jpeg70", "blur2x0.5a45+lanczos3+noise5+jpeg70", "lanczos3"),
        ("nearest", "nearest", "nearest"),
    ],
)
def test_composed_names_are_canonical(typed: str, canonical: str, kernel: str) -> None:
    group = get_group(typed)
    assert (group.name, group.kernel) == (canonical, kernel)
    assert get_group(group.name) == group  # the canonical name names the same group
    assert group.description


def test_bad_names_are_one_line_errors() -> None:
    for bad, message in [
        ("blur", "unknown degradation group 'blur'"),
        ("noise10+noise5", "two noise parts"),
        ("bicubic+nearest", "two kernel parts"),
        ("jpeg0", "JPEG quality"),
        ("blur30", "blur sigma"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            get_group(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="duplicate"):
        parse_groups("blur1.6+noise10,noise10+blur1.6")


def test_real_preset_and_all_stays_the_kernels() -> None:
    assert [g.name for g in parse_groups("real")] == list(REAL_GROUPS)
    assert [g.name for g in parse_groups("all")] == list(GROUPS)
    with pytest.raises(ConfigError, match="'real' cannot be combined"):
        parse_groups("real,bicubic")


# -- training windows and evaluation ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scale"), [("blur1.6", 2), ("blur2x0.5a45", 4), ("blur3+area", 3)])
def test_blur_windows_equal_the_whole_image(name: str, scale: int) -> None:
    group = get_group(name)
    x = _image(96, 84)[:, : 96 // scale * scale, : 84 // scale * scale]
    full = group.degrade(x, scale)
    lh, lw = full.shape[-2:]
    p = 6
    for top, left in itertools.product(sorted({0, 3, lh // 2, lh - p}), sorted({0, 5, lw - p})):
        window = degrade_window(x, group, scale, top, left, p, p)
        assert torch.equal(window, full[:, top : top + p, left : left + p]), (name, top, left)


def test_training_samples_with_noise_are_reproducible_and_keep_their_crops(tmp_path: Path) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"{i}.png", _image(60, 60, seed=i).permute(1, 2, 0).numpy())
    kwargs = dict(scale=2, patch_size=8, length=12, seed=5)
    noisy = SRTrainDataset([folder], groups=[GroupWeight("noise10")], **kwargs)
    again = SRTrainDataset([folder], groups=[GroupWeight("noise10")], **kwargs)
    clean = SRTrainDataset([folder], groups=[GroupWeight("bicubic")], **kwargs)
    draws = []
    for i in range(len(noisy)):
        a, b, c = noisy[i], again[i], clean[i]
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
        assert torch.equal(a["hr"], c["hr"])  # the noise has its own stream: the same crops
        draws.append(a["lr"] - c["lr"])
    assert 7 / 255 < float(torch.stack(draws).std()) < 13 / 255
    assert not torch.equal(draws[0], draws[1])


def test_eval_takes_composed_groups_reproducibly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    write_image(folder / "a.png", _image(48, 48).permute(1, 2, 0).numpy())
    runs = []
    for k in range(2):
        out = tmp_path / f"e{k}"
        args = ["eval", "--model", "bicubic", "--dataset", str(folder), "--scale", "2", "--out", str(out)]
        assert main([*args, "--degradations", "bicubic,blur1.6,noise10+jpeg50", "--no-progress"]) == 0
        runs.append(json.loads((out / "eval.json").read_text()))
    groups = [g["degradation"] for g in runs[0]["groups"]]
    assert groups == ["bicubic", "blur1.6", "noise10+jpeg50"]
    assert [g["psnr"] for g in runs[0]["groups"]] == [g["psnr"] for g in runs[1]["groups"]]
    psnr = {g["degradation"]: g["psnr"] for g in runs[0]["groups"]}
    assert psnr["bicubic"] > psnr["blur1.6"] and psnr["bicubic"] > psnr["noise10+jpeg50"]
    assert all(math.isfinite(v) for v in psnr.values())
    described = {d["name"]: d["description"] for d in runs[0]["settings"]["degradations"]}
    assert "JPEG quality 50" in described["noise10+jpeg50"]


def test_recipes_take_composed_groups() -> None:
    from srkit.train.config.data import GroupConfig as RecipeGroup

    assert RecipeGroup(name="noise10+blur1.6").name == "blur1.6+noise10"
    with pytest.raises(ValueError, match="unknown degradation group"):
        RecipeGroup(name="blur")


def test_holdout_carves_validation_images_out_of_training(tmp_path: Path) -> None:
    from srkit.data.train import holdout_files
    from srkit.train.config import load_config
    from srkit.train.validation import load_val_sets
    from test_train_support import tiny_config, write_config

    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(10):
        write_image(folder / f"{i:02d}.png", _image(32, 32, seed=i).permute(1, 2, 0).numpy())
    carved = holdout_files([folder], 3)
    assert [p.name for p in carved] == ["00.png", "03.png", "06.png"]
    data = SRTrainDataset([folder], scale=2, patch_size=8, exclude=carved)
    assert len(data.hr_files) == 7 and not set(carved) & set(data.hr_files)
    recipe = tiny_config(
        tmp_path, data={"train": {"hr": [str(folder)]}, "val": {"datasets": [], "holdout": 3}}
    )
    config = load_config(write_config(tmp_path / "r.yaml", recipe))
    sets = load_val_sets(config)
    assert list(sets) == ["holdout"] and len(sets["holdout"]) == 3
    with pytest.raises(ConfigError, match="leave none of the 10"):
        holdout_files([folder], 10)


def test_training_validates_on_the_holdout_alone(tmp_path: Path) -> None:
    from srkit.train.config import load_config
    from srkit.train.engine import train
    from test_train_support import tiny_config, write_config

    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(6):
        write_image(folder / f"{i}.png", _image(32, 32, seed=i).permute(1, 2, 0).numpy())
    recipe = tiny_config(
        tmp_path,
        data={"train": {"hr": [str(folder)]}, "val": {"datasets": [], "holdout": 2, "every": 2}},
        train={"steps": 4, "best_metric": "worst_psnr"},
    )
    run = tmp_path / "run"
    train(load_config(write_config(tmp_path / "r.yaml", recipe)), run_dir=run)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in vals] == [2, 4] and all("holdout/psnr" in r for r in vals)
    assert (run / "best.safetensors").is_file()
