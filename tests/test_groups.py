"""Tests for ``srkit.degrade.groups``: named HR -> LR degradation groups."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srkit.degrade import GROUPS, KERNELS, DegradationGroup, get_group, mod_crop, parse_groups, resize
from srkit.errors import ConfigError


def _load_chw(path: Path) -> torch.Tensor:
    """A PNG as a ``(3, H, W)`` uint8 tensor."""
    with Image.open(path) as img:
        arr = np.array(img.convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def test_one_group_per_kernel_named_after_it() -> None:
    assert tuple(GROUPS) == KERNELS
    for name, group in GROUPS.items():
        assert isinstance(group, DegradationGroup)
        assert group.name == name and group.kernel == name
        assert group.description and group.steps == ()


def test_groups_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        GROUPS["bicubic"].kernel = "nearest"  # type: ignore[misc]


def test_get_group_and_unknown_name_error() -> None:
    assert get_group("area") is GROUPS["area"]
    with pytest.raises(ConfigError) as err:
        get_group("gamma90")
    msg = str(err.value)
    assert "'gamma90'" in msg and "noiseS" in msg
    for name in GROUPS:
        assert name in msg


def test_group_with_unknown_kernel_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'box5'"):
        DegradationGroup("x", "box5", "no such kernel")


def test_parse_groups_string_list_and_all() -> None:
    assert parse_groups("bicubic,bilinear") == [GROUPS["bicubic"], GROUPS["bilinear"]]
    assert parse_groups(" Lanczos3 , nearest ") == [GROUPS["lanczos3"], GROUPS["nearest"]]
    assert parse_groups(["area"]) == [GROUPS["area"]]
    assert parse_groups("all") == list(GROUPS.values())
    assert [g.name for g in parse_groups(["ALL"])] == list(KERNELS)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bicubic,bicubic", "duplicate.*bicubic"),
        (["area", "nearest", "area"], "duplicate.*area"),
        ("", "no degradation group"),
        (" , ", "no degradation group"),
        ("all,bicubic", "'all' cannot be combined"),
        ("bicubic,blur", "'blur'"),
    ],
)
def test_parse_groups_errors(spec: str | list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_groups(spec)


@pytest.mark.parametrize("name", KERNELS)
def test_degrade_uint8_shape_dtype_and_equals_resize(name: str) -> None:
    hr = (torch.rand(3, 48, 36, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    lr = GROUPS[name].degrade(hr, 4)
    assert lr.shape == (3, 12, 9) and lr.dtype == torch.uint8
    assert torch.equal(lr, resize(hr, 0.25, kernel=name))


@pytest.mark.parametrize("name", KERNELS)
def test_degrade_float_is_clamped_to_unit_range(name: str) -> None:
    hr = torch.zeros(2, 3, 24, 24, dtype=torch.float32)
    hr[..., ::2, :] = 1.0  # high contrast stripes make bicubic/lanczos overshoot before clamping
    hr[..., :, 12:] = 1.0 - hr[..., :, 12:]
    lr = GROUPS[name].degrade(hr, 3)
    assert lr.shape == (2, 3, 8, 8) and lr.dtype == torch.float32
    assert float(lr.min()) >= 0.0 and float(lr.max()) <= 1.0
    torch.testing.assert_close(lr, resize(hr, 1 / 3, kernel=name).clamp(0, 1), rtol=0, atol=0)


def test_degrade_float_clamp_is_active_for_bicubic() -> None:
    hr = torch.zeros(1, 1, 8, 32, dtype=torch.float64)
    hr[..., 16:] = 1.0
    raw = resize(hr, 0.5)
    assert float(raw.min()) < 0.0 and float(raw.max()) > 1.0
    lr = GROUPS["bicubic"].degrade(hr, 2)
    assert float(lr.min()) == 0.0 and float(lr.max()) == 1.0


def test_degrade_rejects_bad_scale_and_uncropped_hr() -> None:
    hr = torch.zeros(3, 30, 30)
    with pytest.raises(ConfigError, match="not a multiple of scale 4"):
        GROUPS["bicubic"].degrade(hr, 4)
    for bad in (0, 2.0, True):
        with pytest.raises(ConfigError, match="integer >= 1"):
            GROUPS["bicubic"].degrade(hr, bad)  # type: ignore[arg-type]


def test_extra_steps_run_after_resize_in_order() -> None:
    def halve(lr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return lr * 0.5

    def add_quarter(lr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return lr + 0.25

    group = DegradationGroup("bicubic+steps", "bicubic", "test", steps=(halve, add_quarter))
    hr = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = (resize(hr, 0.5) * 0.5 + 0.25).clamp(0, 1)
    torch.testing.assert_close(group.degrade(hr, 2), expected, rtol=0, atol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_group_reproduces_matlab_set5(shared_data: Path, scale: int) -> None:
    for name in ("baby", "bird", "butterfly", "head", "woman"):
        hr = mod_crop(_load_chw(shared_data / "Set5" / f"{name}.png"), scale)
        expected = _load_chw(shared_data / "Set5_LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png")
        lr = GROUPS["bicubic"].degrade(hr, scale)
        assert lr.dtype == torch.uint8 and lr.shape == expected.shape
        assert torch.equal(lr, expected), name
