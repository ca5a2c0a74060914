"""``srkit eval`` for generative SR (SR3): several samples per image, centre crops, SR3's consistency,
FID and Inception Score (with a random-weight Inception-v3: the numbers mean nothing, the plumbing is
checked against independent computations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import srkit.archs as A
from srkit.archs.sr3 import SR3Runner
from srkit.cli import main
from srkit.colour import to_uint8
from srkit.data import resolve_dataset
from srkit.degrade import get_group, mod_crop
from srkit.evaluation import evaluate, report_table
from srkit.io import read_image
from srkit.metrics import psnr
from srkit.metrics.fid import CONSISTENCY_UNIT, consistency, inception_score, min_images
from srkit.metrics.inception import FIDInceptionV3, InceptionFeatures
from test_train_support import make_images

SR3_TINY = {
    "base_channels": 8,
    "channel_mults": [1, 2],
    "num_res_blocks": 1,
    "attn_depths": [-1],
    "emb_mult": 2,
    "sample_steps": 2,
    "scale": 2,
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _sr3() -> SR3Runner:
    torch.manual_seed(0)
    net = A.build_model("sr3", **SR3_TINY).eval()
    with torch.no_grad():  # non-trivial outputs (the near-zero initialised layers too)
        for p in net.parameters():
            torch.nn.init.normal_(p, 0.0, 0.2 / max(1, p[0].numel()) ** 0.5)
    runner = A.make_runner(net, device="cpu", precision="fp32")
    assert isinstance(runner, SR3Runner)
    return runner


@pytest.fixture(scope="module")
def inception() -> InceptionFeatures:
    torch.manual_seed(0)
    return InceptionFeatures(FIDInceptionV3().eval(), batch_size=4)


def _dataset(tmp_path: Path, count: int = 3, size: int = 20):
    make_images(tmp_path / "hr", count, size, seed=5)
    return resolve_dataset(tmp_path / "hr", download=False)


def test_samples_centre_crops_and_consistency(tmp_path: Path) -> None:
    data, runner = _dataset(tmp_path), _sr3()
    runner.configure(seed=7)
    report = evaluate(
        runner,
        [data],
        [2],
        [get_group("bicubic")],
        progress=False,
        center_crop=16,
        samples=3,
        consistency=True,
        save_dir=tmp_path / "sr",
    )
    assert runner.options.seed == 7  # restored
    assert len(report.images) == 3 * 3 and {s.sample for s in report.images} == {0, 1, 2}
    (group,) = report.groups()
    assert (group.images, group.samples) == (3, 3)
    assert group.psnr == pytest.approx(np.mean([s.psnr for s in report.images]))
    for score in report.images:  # every sample is the seed + k sample of the 12x12 centre crop
        image = to_uint8(read_image(data.root / score.image).pixels)[None]
        hr = mod_crop(image[..., 2:18, 2:18], 2)
        lr = get_group("bicubic").degrade(hr, 2)
        sr = read_image(
            tmp_path / "sr" / data.name / "bicubic" / "x2" / f"{Path(score.image).stem}_s{score.sample}.png"
        )
        sr_u8 = to_uint8(sr.pixels)[None]
        assert sr_u8.shape == hr.shape == (1, 3, 16, 16)
        want = consistency(sr_u8[0].permute(1, 2, 0).numpy(), lr[0].permute(1, 2, 0).numpy(), 2)
        assert score.consistency == pytest.approx(want, rel=1e-12)
        hr_hwc, sr_hwc = hr[0].permute(1, 2, 0).numpy(), sr_u8[0].permute(1, 2, 0).numpy()
        assert score.psnr == pytest.approx(psnr(sr_hwc, hr_hwc, crop_border=2, y_channel=True))
        fresh = _sr3().configure(seed=7 + score.sample)
        again = to_uint8(fresh(lr.float() / 255, 2))
        assert torch.equal(again, sr_u8)
    first = [s for s in report.images if s.image == report.images[0].image]
    assert len({s.psnr for s in first}) == 3  # three different samples
    data_dict = report.to_dict()
    assert data_dict["samples"] == 3 and data_dict["center_crop"] == 16
    assert {"sample", "consistency"} <= set(data_dict["images"][0])
    table = report_table(report)
    assert "centre crops of 16 HR pixels, 3 samples per image" in table and "consistency (1e-5)" in table
    assert f"{group.consistency / CONSISTENCY_UNIT:.2f}" in table


def test_deterministic_models_run_once_and_small_images_are_skipped(tmp_path: Path) -> None:
    make_images(tmp_path / "hr", 2, 20, seed=5)
    make_images(tmp_path / "hr_small", 1, 10, seed=6)
    (tmp_path / "hr_small" / "img00.png").rename(tmp_path / "hr" / "small.png")
    data = resolve_dataset(tmp_path / "hr", download=False)
    report = evaluate(A.InterpolationUpscaler("bicubic"), [data], [2], [get_group("bicubic")], progress=False,
                      samples=4, center_crop=16)  # fmt: skip
    assert report.samples == 1 and len(report.images) == 2
    assert [s.image for s in report.skipped] == ["small.png"] and "centre crop 16" in report.skipped[0].reason
    assert "sample" not in report.to_dict()["images"][0]
    with pytest.raises(Exception, match="center crop: 15 must be a positive multiple of every scale"):
        evaluate(A.InterpolationUpscaler("bicubic"), [data], [2], [get_group("bicubic")], center_crop=15)


def test_fid_and_inception_score_per_cell(tmp_path: Path, inception: InceptionFeatures) -> None:
    data = _dataset(tmp_path, count=5, size=16)
    report = evaluate(_sr3(), [data], [2], [get_group("bicubic")], progress=False, samples=2, fid=True,
                      inception=inception, inception_score=True, save_dir=tmp_path / "sr")  # fmt: skip
    (cell,) = report.generative
    assert (cell.sr_images, cell.hr_images) == (10, 5)
    assert cell.fid is None and f"FID needs at least {min_images()} per set" in str(cell.fid_note)
    srs = [
        to_uint8(read_image(p).pixels).permute(1, 2, 0).numpy()
        for s in report.images
        for p in [tmp_path / "sr" / data.name / "bicubic" / "x2" / f"{Path(s.image).stem}_s{s.sample}.png"]
    ]
    want = inception_score(inception.logits(srs))
    assert (cell.inception_score, cell.inception_score_std) == pytest.approx(want, rel=1e-9)
    table = report_table(report)
    assert "FID / Inception Score" in table and "n/a" in table and "not computed: 10 SR and 5 HR" in table
    assert json.loads(json.dumps(report.to_dict()))["generative"][0]["fid"] is None
    few = evaluate(_sr3(), [data], [2], [get_group("bicubic")], progress=False, inception=inception,
                   inception_score=True)  # fmt: skip
    assert few.generative[0].inception_score is None and "10 splits" in str(few.generative[0].is_note)


def test_fid_is_computed_where_there_are_enough_images(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       inception: InceptionFeatures) -> None:  # fmt: skip
    import srkit.metrics.fid as F

    data = _dataset(tmp_path, count=4, size=16)
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def fid(a: np.ndarray, b: np.ndarray) -> float:
        seen.append((a, b))
        return 12.5

    monkeypatch.setattr(F, "min_images", lambda dim=2048: 3)  # the full-rank rule, scaled down
    monkeypatch.setattr(F, "fid_from_features", fid)
    report = evaluate(A.InterpolationUpscaler("bicubic"), [data], [2], [get_group("bicubic")], progress=False,
                      inception=inception, fid=True, save_dir=tmp_path / "sr")  # fmt: skip
    (cell,) = report.generative
    assert (cell.fid, cell.fid_note) == (12.5, None)
    srs = [to_uint8(read_image(p).pixels).permute(1, 2, 0).numpy()
           for p in sorted((tmp_path / "sr" / data.name / "bicubic" / "x2").glob("*.png"))]  # fmt: skip
    hrs = [to_uint8(read_image(p).pixels).permute(1, 2, 0).numpy() for p in data.files]
    ((sr_features, hr_features),) = seen
    np.testing.assert_allclose(sr_features, inception.features(srs), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(hr_features, inception.features(hrs), rtol=1e-6, atol=1e-9)


def test_cli_generative_flags(
    tmp_path: Path, inception: InceptionFeatures, capsys: pytest.CaptureFixture
) -> None:
    data = _dataset(tmp_path, count=2, size=20)
    weights = A.save_weights(tmp_path / "sr3.safetensors", _sr3().model)
    inception_file = tmp_path / "inception.pth"
    torch.save(inception.net.state_dict(), inception_file)
    out = tmp_path / "ev"
    argv = ["eval", "--model", str(weights), "--dataset", str(data.root), "--scale", "2", "--samples", "2",
            "--center-crop", "16", "--consistency", "--fid", "--is", "--inception-weights",
            str(inception_file), "--out", str(out), "--no-progress", "--steps", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 samples per image" in printed and "FID / Inception Score" in printed
    result = json.loads((out / "eval.json").read_text())
    assert result["samples"] == 2 and result["center_crop"] == 16 and len(result["images"]) == 4
    assert result["generative"][0]["sr_images"] == 4 and result["generative"][0]["fid"] is None
    assert (out / "generative.csv").is_file()
    bad = [*argv[:-7], "--inception-weights", str(tmp_path / "missing.pth"), "--out", str(out)]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.pth" in err and "http" in err
    assert main([*argv[:9], "--center-crop", "15", "--out", str(out)]) == 2
    assert "--center-crop: 15 must be a positive multiple of every --scale" in capsys.readouterr().err
