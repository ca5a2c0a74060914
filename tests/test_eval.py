"""`srkit eval`: literature acceptance numbers, the robustness summary, files written, one-line errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from srkit.archs import InterpolationUpscaler
from srkit.cli import main
from srkit.data import resolve_dataset
from srkit.degrade import parse_groups
from srkit.evaluation import EvalReport, ImageScore, evaluate, report_table

# Published bicubic baselines (Y channel, border = scale), e.g. the tables of EDSR/RCAN/SwinIR.
PUBLISHED = {
    "Set5": {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)},
    "Set14": {2: (30.24, 0.8688), 3: (27.55, 0.7742), 4: (26.00, 0.7027)},
}


@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_bicubic_matches_published_tables(shared_data: Path, tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--model",
            "bicubic",
            "--dataset",
            str(shared_data / name),
            "--scale",
            "2",
            "3",
            "4",
            "--y-channel",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads((out / "eval.json").read_text())
    groups = {g["scale"]: g for g in data["groups"]}
    assert sorted(groups) == [2, 3, 4]
    for scale, (want_psnr, want_ssim) in PUBLISHED[name].items():
        got = groups[scale]
        assert got["images"] == (5 if name == "Set5" else 14)
        assert abs(got["psnr"] - want_psnr) <= 0.015, (name, scale, got["psnr"], want_psnr)
        assert abs(got["ssim"] - want_ssim) <= 0.001, (name, scale, got["ssim"], want_ssim)
    printed = capsys.readouterr().out
    assert "bicubic" in printed and "PSNR" in printed


def _fake_report() -> EvalReport:
    report = EvalReport(model="m", y_channel=True, crop_border=None)
    values = {"bicubic": [(30.0, 0.9), (32.0, 0.8)], "nearest": [(20.0, 0.7), (24.0, 0.95)]}
    for group, scores in values.items():
        for i, (p, s) in enumerate(scores):
            report.images.append(ImageScore("d", group, 2, f"img{i}.png", p, s))
    return report


def test_group_means_worst_group_and_mean_over_groups() -> None:
    report = _fake_report()
    groups = {g.degradation: g for g in report.groups()}
    assert groups["bicubic"].psnr == pytest.approx(31.0) and groups["bicubic"].ssim == pytest.approx(0.85)
    assert groups["nearest"].psnr == pytest.approx(22.0) and groups["nearest"].ssim == pytest.approx(0.825)
    (summary,) = report.summaries()
    assert summary.worst_group == "nearest"
    assert summary.worst_psnr == pytest.approx(22.0)
    assert summary.worst_ssim == pytest.approx(0.825) and summary.worst_ssim_group == "nearest"
    assert summary.mean_psnr == pytest.approx(26.5)
    assert summary.mean_ssim == pytest.approx(0.8375)
    table = report_table(report)
    assert "worst (nearest)" in table and "mean over groups" in table and "26.50" in table
    # a third group worse on SSIM only: the label names both groups
    report.images.append(ImageScore("d", "area", 2, "img0.png", 29.0, 0.5))
    (summary,) = report.summaries()
    assert (summary.worst_group, summary.worst_ssim_group) == ("nearest", "area")
    assert "worst (PSNR nearest, SSIM area)" in report_table(report)


def _ramp_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    from PIL import Image

    yy, xx = np.mgrid[0:50, 0:62]
    smooth = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(folder / "smooth.png")
    Image.fromarray(rng.integers(0, 256, (40, 44), dtype=np.uint8), mode="L").save(folder / "gray.png")
    return folder


def test_cli_writes_json_csv_images_and_robustness_rows(tmp_path: Path, capsys) -> None:
    folder = _ramp_dataset(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "--model",
            "bicubic",
            "--dataset",
            str(folder),
            "--scale",
            "2",
            "4",
            "--degradations",
            "bicubic,nearest,area",
            "--out",
            str(out),
            "--save-images",
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads((out / "eval.json").read_text())
    assert len(data["images"]) == 2 * 2 * 3
    assert {s["scale"] for s in data["summary"]} == {2, 4}
    with (out / "images.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and set(rows[0]) == {"dataset", "degradation", "scale", "image", "psnr", "ssim"}
    saved = out / "images" / "hr" / "nearest" / "x4" / "gray.png"
    from PIL import Image

    with Image.open(saved) as im:
        assert im.mode == "L" and im.size == (44, 40)  # grayscale stays grayscale, mod-cropped to x4
    printed = capsys.readouterr().out
    assert printed.count("worst (") == 2 and printed.count("mean over groups") == 2


def test_identity_like_model_scores_higher_than_bicubic(tmp_path: Path) -> None:
    """A model returning the HR image itself scores inf; bicubic does not: the metric sees the output."""
    folder = _ramp_dataset(tmp_path)
    dataset = resolve_dataset(str(folder))
    from srkit.io import read_image

    hr = {p.name: read_image(p).pixels for p in dataset.files}

    class Oracle:
        name = "oracle"
        calls = 0

        def supports_scale(self, scale: int) -> bool:
            return True

        def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
            (name,) = [
                n for n, t in hr.items() if t.shape[0] == lr.shape[1] and t.shape[1] // scale == lr.shape[2]
            ]
            Oracle.calls += 1
            t = hr[name]
            return t[:, : lr.shape[2] * scale, : lr.shape[3] * scale].unsqueeze(0)

    report = evaluate(Oracle(), [dataset], [2], parse_groups("bicubic"), progress=False)
    assert Oracle.calls == 2
    assert all(math.isinf(s.psnr) and s.ssim == pytest.approx(1.0) for s in report.images)
    bicubic = evaluate(
        InterpolationUpscaler("bicubic"), [dataset], [2], parse_groups("bicubic"), progress=False
    )
    assert all(math.isfinite(s.psnr) for s in bicubic.images)


def test_wrong_output_shape_is_one_line_error(tmp_path: Path, capsys) -> None:
    folder = _ramp_dataset(tmp_path)

    class Broken:
        name = "broken"

        def supports_scale(self, scale: int) -> bool:
            return True

        def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
            return lr

    with pytest.raises(Exception, match=r"returned shape .* expected"):
        evaluate(Broken(), [resolve_dataset(str(folder))], [2], parse_groups("bicubic"), progress=False)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", "no-such-model", "--dataset", "sample"], "unknown model 'no-such-model'"),
        (["--model", "bicubic", "--dataset", "/no/such/folder"], "/no/such/folder"),
        (["--model", "bicubic", "--dataset", "sample", "--degradations", "blurry"], "blurry"),
        (["--model", "bicubic", "--dataset", "sample", "--scale", "0"], "--scale"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], needle: str, tmp_path: Path, capsys) -> None:
    code = main(["eval", *argv, "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("srkit: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_sample_dataset_runs_end_to_end(tmp_path: Path, capsys) -> None:
    """The README's main job: bicubic on the bundled sample photo."""
    code = main(
        [
            "eval",
            "--model",
            "bicubic",
            "--dataset",
            "sample",
            "--scale",
            "2",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "eval.json").read_text())
    (group,) = data["groups"]
    assert group["dataset"] == "sample" and 25 < group["psnr"] < 45 and 0.7 < group["ssim"] < 1.0


def test_several_models_are_compared_in_one_table(tmp_path: Path, capsys) -> None:
    data = _ramp_dataset(tmp_path)
    out = tmp_path / "cmp"
    argv = ["eval", "--model", "bicubic", "nearest", "--dataset", str(data), "--scale", "2"]
    argv += ["--degradations", "bicubic,nearest", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    with (out / "comparison.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["bicubic", "nearest"]
    for row in rows:  # the comparison repeats each model's own summary
        own = json.loads((out / row["model"] / "eval.json").read_text(encoding="utf-8"))
        (summary,) = own["summary"]
        assert float(row["worst_psnr"]) == pytest.approx(summary["worst_psnr"])
        assert float(row["mean_psnr"]) == pytest.approx(summary["mean_psnr"])
        groups = {g["degradation"]: g["psnr"] for g in own["groups"]}
        assert float(row["nearest_psnr"]) == pytest.approx(groups["nearest"])
        assert row["worst_group"] == min(groups, key=groups.get)
    md = (out / "comparison.md").read_text(encoding="utf-8")
    assert md in text.replace("\r", "")
    best_mean = max(rows, key=lambda r: float(r["mean_psnr"]))
    line = next(li for li in md.splitlines() if li.startswith(f"| {best_mean['model']} |"))
    assert line.rstrip(" |").endswith("**")  # the best mean is bold
    worst_mean = min(rows, key=lambda r: float(r["mean_psnr"]))
    line = next(li for li in md.splitlines() if li.startswith(f"| {worst_mean['model']} |"))
    assert not line.rstrip(" |").endswith("**")


def test_model_labels_disambiguate_repeated_file_names() -> None:
    from srkit.cli import _model_labels

    labels = _model_labels(
        [
            "runs/a/model.safetensors",
            "runs/b/model.safetensors",
            "bicubic",
            "x/ok.pth",
            "runs/b/best.safetensors",
        ]
    )
    assert labels == ["a/model", "b/model", "bicubic", "ok", "b/best"]
    assert _model_labels(["y/ok.pth", "z/ok.pth"]) == ["y/ok", "z/ok"]


def test_unreadable_dataset_folders_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable folder (chmod 000 as a normal user) or sub-folder is named, not a traceback and never
    silently skipped."""
    import os

    from PIL import Image as PILImage

    from srkit.data.benchmarks import list_images
    from srkit.errors import DatasetError

    root = tmp_path / "hr"
    (root / "sub").mkdir(parents=True)
    PILImage.new("RGB", (8, 8)).save(root / "a.png")
    PILImage.new("RGB", (8, 8)).save(root / "sub" / "b.png")
    real = os.scandir

    def scandir(path: object) -> object:
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    assert [p.name for p in list_images(root)] == ["a.png"]
    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DatasetError, match=r"sub: cannot list the folder: .*Permission denied"):
        list_images(root, recursive=True)
    monkeypatch.setattr(Path, "stat", lambda self, **kw: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(DatasetError, match=r"hr: cannot open: .*denied"):
        list_images(root)


def test_scoring_in_a_thread_gives_the_same_report_in_order(tmp_path: Path) -> None:
    """``evaluate`` scores image i while the model makes image i + 1 (issue 11): the report, the order
    of ``on_image`` calls and the saved images are those of scoring each image in turn."""
    dataset = resolve_dataset(str(_ramp_dataset(tmp_path)))
    groups = parse_groups("bicubic,nearest,area")
    runs = {}
    for overlap in (True, False):
        seen: list[tuple[str, str, int]] = []
        report = evaluate(
            InterpolationUpscaler("bilinear"), [dataset], [2, 3], groups, progress=False,
            on_image=lambda s, _sample, seen=seen: seen.append((s.image, s.degradation, s.scale)),
            save_dir=tmp_path / f"out{overlap}", overlap_metrics=overlap,
        )  # fmt: skip
        runs[overlap] = (report.to_dict(), seen)
        assert len(seen) == len(dataset.files) * 2 * 3
    assert runs[True] == runs[False]
    saved = {
        o: sorted(p.relative_to(tmp_path / f"out{o}") for p in (tmp_path / f"out{o}").rglob("*.png"))
        for o in runs
    }
    assert saved[True] == saved[False] and len(saved[True]) == len(dataset.files) * 6


def test_scoring_overlaps_only_with_a_spare_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """On 2 cores with 2 torch threads overlapping made eval 0.91x as fast (docs/speed.md): the default
    overlaps only when PyTorch's threads leave a core free."""
    from srkit.evaluation import runner as eval_runner

    monkeypatch.setattr(eval_runner.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(eval_runner.torch, "get_num_threads", lambda: 2)
    assert not eval_runner.spare_core()
    monkeypatch.setattr(eval_runner.torch, "get_num_threads", lambda: 1)
    assert eval_runner.spare_core()


def test_luminance_network_is_scored_on_its_own_y(tmp_path: Path) -> None:
    """A Y network's PSNR is its 8-bit Y output against the HR's 8-bit Y (the VDSR/LapSRN convention),
    not the Y of the RGB rebuilt with bicubic chroma; saved images are still the rebuilt RGB."""
    from srkit.archs import build_model, make_runner
    from srkit.colour import to_uint8
    from srkit.degrade import mod_crop
    from srkit.io import read_image
    from srkit.metrics import psnr, ssim

    torch.manual_seed(0)
    runner = make_runner(build_model("vdsr", num_feat=8, num_layers=3), device="cpu", precision="fp32")
    folder = _ramp_dataset(tmp_path)
    report = evaluate(runner, [resolve_dataset(str(folder))], [2], parse_groups("bicubic"), progress=False)
    got = {s.image: s for s in report.images}
    group = parse_groups("bicubic")[0]
    hr = mod_crop((read_image(folder / "smooth.png").pixels * 255).round().to(torch.uint8), 2)
    lr = group.degrade(hr, 2).float()[None] / 255
    rgb, luma = runner.with_luma(lr, 2)
    assert luma is not None and luma.shape == (1, 1, 50, 62)
    sr_y = to_uint8(luma)[0, 0].numpy()
    hr_rgb = hr.permute(1, 2, 0).numpy()
    want = (
        psnr(sr_y, hr_rgb, crop_border=2, y_channel=True),
        ssim(sr_y, hr_rgb, crop_border=2, y_channel=True),
    )
    assert (got["smooth.png"].psnr, got["smooth.png"].ssim) == pytest.approx(want, abs=1e-9)
    rebuilt = psnr(to_uint8(rgb)[0].permute(1, 2, 0).numpy(), hr_rgb, crop_border=2, y_channel=True)
    assert rebuilt != pytest.approx(got["smooth.png"].psnr, abs=1e-6)
    assert torch.equal(runner(lr, 2), rgb)
    # grayscale input has no separate luma; its score is the grey output's
    assert runner.with_luma(lr[:, :1], 2)[1] is None
    assert math.isfinite(got["gray.png"].psnr)
