"""LPIPS (Zhang et al. 2018): metric properties, the formula by hand, official key layouts, missing files,
and the opt-in ``srkit eval --lpips`` column."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srkit.cli import main
from srkit.errors import SrkitError
from srkit.metrics.lpips import (
    BACKBONES,
    LPIPS,
    SCALE,
    SHIFT,
    AlexNetFeatures,
    default_backbone_weights_path,
    default_lin_weights_path,
    lin_state_dict,
    lpips_uint8,
    normalize_channels,
)


def _official_lin(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random non-negative linear layers under the official lpips keys."""
    g = torch.Generator().manual_seed(seed)
    return {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(BACKBONES[net])
    }


@pytest.fixture(scope="module")
def alex() -> LPIPS:
    torch.manual_seed(0)
    metric = LPIPS("alex", lin_weights=None, backbone_weights=None)
    metric.load_lin_weights(_official_lin("alex"))
    return metric


def _images(n: int = 2, size: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=g), torch.rand(n, 3, size, size, generator=g)


def test_identity_symmetry_positivity_and_shape(alex: LPIPS) -> None:
    x, y = _images(3)
    same = alex(x, x)
    assert same.shape == (3,) and torch.equal(same, torch.zeros(3))
    d_xy, d_yx = alex(x, y), alex(y, x)
    assert d_xy.shape == (3,)
    torch.testing.assert_close(d_xy, d_yx)
    assert bool((d_xy > 0).all())


def test_larger_perturbation_larger_distance(alex: LPIPS) -> None:
    x, _ = _images(1)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    dists = [float(alex(x, (x + eps * noise).clamp(0, 1))) for eps in (0.0, 0.01, 0.03, 0.1, 0.3)]
    assert dists[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(dists)), dists


def test_gray_input_is_repeated_to_rgb(alex: LPIPS) -> None:
    x, y = _images(1)
    gx, gy = x[:, :1], y[:, :1]
    torch.testing.assert_close(alex(gx, gy), alex(gx.expand(-1, 3, -1, -1), gy.expand(-1, 3, -1, -1)))


def test_normalize_channels_by_hand() -> None:
    t = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    torch.testing.assert_close(normalize_channels(t).flatten(), torch.tensor([0.6, 0.8]))
    # two unit vectors (0.6, 0.8) and (0.8, 0.6): squared difference 0.04 per channel; lin (1, 2) -> 0.12
    d = (normalize_channels(t) - normalize_channels(torch.tensor([4.0, 3.0]).view(1, 2, 1, 1))) ** 2
    w = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    assert float(F.conv2d(d, w).mean()) == pytest.approx(0.12)


def _alexnet_by_hand(sd: dict[str, torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """AlexNet relu1..relu5 written out from torchvision's keys, independently of AlexNetFeatures."""
    shift = torch.tensor(SHIFT).to(x.dtype).view(1, 3, 1, 1)  # float32 constants, as the module
    scale = torch.tensor(SCALE).to(x.dtype).view(1, 3, 1, 1)
    h = (2 * x - 1 - shift) / scale

    def conv(h: torch.Tensor, i: int, **kw: int) -> torch.Tensor:
        return F.relu(F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], **kw))

    r1 = conv(h, 0, stride=4, padding=2)
    r2 = conv(F.max_pool2d(r1, 3, 2), 3, padding=2)
    r3 = conv(F.max_pool2d(r2, 3, 2), 6, padding=1)
    r4 = conv(r3, 8, padding=1)
    r5 = conv(r4, 10, padding=1)
    return [r1, r2, r3, r4, r5]


def test_distance_matches_the_formula_by_hand() -> None:
    """d = sum_l mean_hw sum_c w_lc (y_l/||y_l|| - y0_l/||y0_l||)^2, computed here with explicit loops."""
    torch.manual_seed(3)
    metric = LPIPS("alex", lin_weights=None, backbone_weights=None).double()
    lin = _official_lin("alex", seed=4)
    metric.load_lin_weights(lin)
    sd = {k.removeprefix("net."): v for k, v in metric.state_dict().items() if k.startswith("net.")}
    x, y = (t[:1].double() for t in _images(1, size=35))
    want = 0.0
    for l, (a, b) in enumerate(zip(_alexnet_by_hand(sd, x), _alexnet_by_hand(sd, y), strict=True)):
        a, b = a[0].numpy(), b[0].numpy()  # (C, H, W)
        w = lin[f"lin{l}.model.1.weight"].flatten().double().numpy()
        _, height, width = a.shape
        total = 0.0
        for i in range(height):
            for j in range(width):
                ua = a[:, i, j] / (np.sqrt((a[:, i, j] ** 2).sum()) + 1e-10)
                ub = b[:, i, j] / (np.sqrt((b[:, i, j] ** 2).sum()) + 1e-10)
                total += float((w * (ua - ub) ** 2).sum())
        want += total / (height * width)
    got = float(metric(x, y)[0])
    assert got == pytest.approx(want, rel=1e-10)


def test_alexnet_layout_and_taps() -> None:
    features = AlexNetFeatures()
    keys = [k for k in features.state_dict() if k.endswith("weight")]
    assert keys == [f"features.{i}.weight" for i in (0, 3, 6, 8, 10)]
    taps = features(torch.rand(1, 3, 64, 64))
    assert [t.shape[1] for t in taps] == list(BACKBONES["alex"])
    assert [tuple(t.shape[-2:]) for t in taps] == [(15, 15), (7, 7), (3, 3), (3, 3), (3, 3)]


def _write_official_files(folder: Path, net: str = "alex") -> tuple[Path, Path, dict, dict]:
    """Random weights saved as the official files: torchvision AlexNet and LPIPS linear layers."""
    torch.manual_seed(5)
    backbone = {f"features.{k}": v.clone() for k, v in AlexNetFeatures().features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # a full torchvision model: ignored
    lin = _official_lin(net, seed=6)
    backbone_path = folder / "weights" / "alexnet-owt-7be5be79.pth"
    lin_path = folder / "lpips" / "v0.1" / f"{net}.pth"
    for path, state in ((backbone_path, backbone), (lin_path, lin)):
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    return backbone_path, lin_path, backbone, lin


def test_loads_official_key_layouts_from_paths_and_cache(tmp_path: Path, monkeypatch) -> None:
    backbone_path, lin_path, backbone, lin = _write_official_files(tmp_path)
    metric = LPIPS("alex", lin_weights=lin_path, backbone_weights=backbone_path)
    state = metric.state_dict()
    for key, value in lin.items():
        assert torch.equal(state[key], value)  # the official keys, unchanged
    for key, value in backbone.items():
        if key.startswith("features."):
            assert torch.equal(state[f"net.{key}"], value)
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path))
    assert default_lin_weights_path("alex") == lin_path
    assert default_backbone_weights_path("alex") == backbone_path
    cached = LPIPS("alex")  # 'default': the cache folder
    x, y = _images(1)
    torch.testing.assert_close(cached(x, y), metric(x, y))


def test_lin_key_variants_and_wrong_files() -> None:
    lin = _official_lin("alex")
    no_dropout = {k.replace("model.1", "model.0"): v for k, v in lin.items()}
    full_dump = {**lin, "net.slice1.0.weight": torch.zeros(1), "scaling_layer.shift": torch.zeros(3)}
    assert lin_state_dict(no_dropout, "alex").keys() == lin.keys()
    assert lin_state_dict(full_dump, "alex").keys() == lin.keys()
    with pytest.raises(SrkitError, match=r"vgg.pth: not LPIPS alex .*'lin1.model.1.weight' has shape"):
        lin_state_dict(_official_lin("vgg"), "alex", source="vgg.pth")
    with pytest.raises(SrkitError, match=r"missing 'lin4.model.1.weight'"):
        lin_state_dict({k: v for k, v in lin.items() if not k.startswith("lin4")}, "alex")
    with pytest.raises(SrkitError, match=r"'features.0.weight' is not an LPIPS linear-layer key"):
        lin_state_dict({"features.0.weight": torch.zeros(1)}, "alex")


def test_missing_files_are_one_line_errors_naming_paths_and_sources(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path))
    with pytest.raises(SrkitError) as info:
        LPIPS("alex")
    msg = str(info.value)
    assert "\n" not in msg
    assert str(tmp_path / "lpips" / "v0.1" / "alex.pth") in msg and "PerceptualSimilarity" in msg
    assert str(tmp_path / "weights" / "alexnet-owt-7be5be79.pth") in msg
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in msg
    with pytest.raises(SrkitError, match=r"vgg16-397923af\.pth"):
        LPIPS("vgg", lin_weights=None)
    with pytest.raises(SrkitError, match=r"nowhere\.pth: LPIPS v0.1 alex linear-layer weights not found"):
        LPIPS("alex", lin_weights=tmp_path / "nowhere.pth", backbone_weights=None)
    with pytest.raises(SrkitError, match="unknown backbone 'squeeze'"):
        LPIPS("squeeze", lin_weights=None, backbone_weights=None)


def test_vgg_backbone_random_weights() -> None:
    torch.manual_seed(7)
    metric = LPIPS("vgg", lin_weights=None, backbone_weights=None)
    metric.load_lin_weights(_official_lin("vgg"))
    x, y = _images(1, size=16)
    assert [t.shape[1] for t in metric.features(x)] == list(BACKBONES["vgg"])
    assert float(metric(x, x)[0]) == 0.0 and float(metric(x, y)[0]) > 0
    assert any(k.startswith("net.net.features.28.") for k in metric.state_dict())


def test_too_small_and_mismatched_inputs(alex: LPIPS) -> None:
    with pytest.raises(SrkitError, match="at least 31x31"):
        alex(torch.rand(1, 3, 30, 40), torch.rand(1, 3, 30, 40))
    with pytest.raises(SrkitError, match="one shape"):
        alex(torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 41))


def test_uint8_helper_shaves_the_border(alex: LPIPS) -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (44, 44, 3), dtype=np.uint8)
    sr = hr.copy()
    sr[:4] = 0  # differences only inside the border
    assert lpips_uint8(alex, sr, hr, crop_border=4) == 0.0
    assert lpips_uint8(alex, sr, hr, crop_border=0) > 0.0
    gray = hr[..., :1]
    assert lpips_uint8(alex, gray, gray[::-1].copy(), crop_border=2) > 0.0


def _dataset(tmp_path: Path) -> Path:
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:52]
    smooth = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(folder / "smooth.png")
    Image.fromarray(rng.integers(0, 256, (44, 48), dtype=np.uint8), mode="L").save(folder / "gray.png")
    return folder


def test_eval_lpips_column_in_json_csv_and_table(tmp_path: Path, monkeypatch, capsys) -> None:
    _write_official_files(tmp_path / "cache")
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["eval", "--model", "bicubic", "--dataset", str(_dataset(tmp_path)), "--scale", "2"]
    code = main([*argv, "--degradations", "bicubic,nearest", "--lpips", "--out", str(out), "--no-progress"])
    assert code == 0
    assert "LPIPS (alex)" in capsys.readouterr().out
    data = json.loads((out / "eval.json").read_text())
    assert data["lpips"] == "alex"
    assert all(img["lpips"] > 0 for img in data["images"]) and len(data["images"]) == 4
    (summary,) = data["summary"]
    group_values = [g["lpips"] for g in data["groups"]]
    assert summary["worst_lpips"] == pytest.approx(max(group_values))
    assert summary["mean_lpips"] == pytest.approx(np.mean(group_values))
    for name in ("images.csv", "groups.csv"):
        with (out / name).open() as handle:
            assert "lpips" in next(csv.DictReader(handle))
    with (out / "summary.csv").open() as handle:
        assert {"worst_lpips", "mean_lpips"} <= set(next(csv.DictReader(handle)))


def test_eval_lpips_missing_weights_fails_up_front(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "empty"))
    out = tmp_path / "out"
    code = main(["eval", "--model", "bicubic", "--dataset", "sample", "--lpips", "vgg", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("srkit: error: ") and err.count("\n") == 1
    assert "vgg.pth" in err and "vgg16-397923af.pth" in err
    assert not out.exists()  # nothing was evaluated or written


def test_eval_lpips_weight_flags_take_files_anywhere(tmp_path: Path, monkeypatch, capsys) -> None:
    backbone_path, lin_path, _, _ = _write_official_files(tmp_path / "elsewhere")
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "empty"))
    out = tmp_path / "out"
    argv = ["eval", "--model", "bicubic", "--dataset", str(_dataset(tmp_path)), "--scale", "2", "--lpips"]
    flags = ["--lpips-weights", str(lin_path), "--lpips-backbone", str(backbone_path)]
    assert main([*argv, *flags, "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "eval.json").read_text())
    assert data["lpips"] == "alex" and all(img["lpips"] > 0 for img in data["images"])  # the cache is empty
    capsys.readouterr()
    assert main(["eval", "--model", "bicubic", "--dataset", "sample", *flags]) == 2
    assert "only with --lpips" in capsys.readouterr().err
