"""`srkit plot` / `srkit.report.plot_runs`: the figure draws what the runs' log.jsonl hold (checked on the
matplotlib objects), PNG and SVG are written, bad inputs are one-line errors.

The logs come from the real engine: tiny pixel-loss, Group DRO and GAN runs on generated images."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srkit.cli import main
from srkit.report import plot_runs, read_log

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = [
    "train.log_every=2",
    "train.precision=fp32",
    "train.channels_last=false",
    "model.hparams.num_feat=8",
    "model.hparams.num_block=1",
    "data.train.batch_size=2",
    "data.train.num_workers=0",
    "logging.tensorboard=false",
    "logging.progress=false",
]


def _images(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        y, x = np.mgrid[0:64, 0:64]
        img = np.stack([128 + 90 * np.sin(x / 5 + i), 128 + 90 * np.cos(y / 6 + i), (x + y) * 2 % 255], -1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"im{i}.png")
    return folder


def _train(config: str, out: Path, data: list[str], *overrides: str) -> Path:
    argv = ["train", str(CONFIGS / config), "--set", *TINY, *data, *overrides, "--out", str(out)]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real runs: ``alpha`` (L1), ``beta`` (Group DRO, validated per group), ``gan`` (ESRGAN-style
    GAN without the perceptual term, so no VGG weights are needed)."""
    base = tmp_path_factory.mktemp("plot")
    data = [
        f"data.train.hr=[{_images(base / 'train', 4, 0)}]",
        f"data.val.datasets=[{_images(base / 'val', 2, 1)}]",
    ]
    alpha = _train(
        "tiny/edsr_baseline_x2.yaml",
        base / "alpha",
        data,
        "train.steps=6",
        "data.val.every=3",
        "train.checkpoint_every=6",
        "data.train.patch_size=16",
    )
    beta = _train(
        "robust/edsr_baseline_x2_dro.yaml",
        base / "beta",
        data,
        "train.steps=4",
        "data.val.every=2",
        "train.checkpoint_every=4",
        "model.init=null",
        "data.train.batch_size=4",
        "data.train.patch_size=16",
        "data.val.groups=[bicubic,nearest]",
    )
    gan = _train(
        "tiny/esrgan_x4.yaml",
        base / "gan",
        data,
        "train.steps=4",
        "data.val.every=4",
        "train.checkpoint_every=4",
        "model.init=null",
        "objective.perceptual_weight=0",
        "model.hparams.num_grow_ch=4",
        "objective.discriminator.vgg_blk_ch=[8,8,8,8,8,8,8,8,8,8]",
    )
    return {"alpha": alpha, "beta": beta, "gan": gan}


def records(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def axes_by_title(figure) -> dict[str, object]:
    return {re.sub(r" \(mean of \d+\)$", "", ax.get_title()): ax for ax in figure.axes}


def line(axes, label: str):
    found = [ln for ln in axes.get_lines() if ln.get_label() == label]
    assert len(found) == 1, (label, [ln.get_label() for ln in axes.get_lines()])
    return found[0]


def legend_texts(axes) -> list[str]:
    return [t.get_text() for t in axes.get_legend().get_texts()]


def test_two_runs_overlaid(runs: dict[str, Path]) -> None:
    figure = plot_runs([runs["alpha"], runs["beta"]])
    panels = axes_by_title(figure)
    assert set(panels) == {
        "validation PSNR",
        "validation SSIM",
        "training loss",
        "learning rate",
        "Group DRO q per group",
    }
    for title in ("validation PSNR", "validation SSIM", "training loss", "learning rate"):
        texts = legend_texts(panels[title])
        assert any(t.startswith("alpha: ") for t in texts) and any(t.startswith("beta: ") for t in texts), (
            texts
        )
        assert panels[title].get_xlabel() == "step" and panels[title].get_xscale() == "linear"
    assert panels["validation PSNR"].get_ylabel() == "PSNR (dB)"
    assert "training curves: alpha, beta" in figure.get_suptitle()


def test_lines_hold_the_logged_values(runs: dict[str, Path]) -> None:
    figure = plot_runs([runs["alpha"], runs["beta"]], smooth_window=3)
    panels = axes_by_title(figure)
    train, val = records(runs["alpha"], "train"), records(runs["alpha"], "val")
    assert len(train) == 3 and len(val) == 2
    psnr = line(panels["validation PSNR"], "alpha: val")
    assert list(psnr.get_xdata()) == [r["step"] for r in val]
    assert list(psnr.get_ydata()) == [r["val/psnr"] for r in val]
    bicubic = records(runs["alpha"], "bicubic")[0]
    reference = line(panels["validation PSNR"], "alpha: bicubic val")
    assert list(reference.get_ydata()) == [bicubic["val/psnr"]] * 2
    raw = line(panels["training loss"], "_raw alpha: loss")
    smoothed = line(panels["training loss"], "alpha: loss")
    losses = [r["loss"] for r in train]
    assert list(raw.get_ydata()) == losses and len(smoothed.get_xdata()) == len(train)
    assert smoothed.get_ydata()[-1] == pytest.approx(sum(losses) / 3)
    assert raw.get_alpha() < 1
    lr = line(panels["learning rate"], "alpha: lr")
    assert list(lr.get_ydata()) == [r["lr"] for r in train]


def test_group_dro_q_and_validation_groups(runs: dict[str, Path]) -> None:
    panels = axes_by_title(plot_runs([runs["beta"]]))
    train, val = records(runs["beta"], "train"), records(runs["beta"], "val")
    groups = ["bicubic", "bilinear", "nearest", "area"]
    for group in groups:
        q = line(panels["Group DRO q per group"], f"beta: {group}")
        assert list(q.get_ydata()) == [r[f"q_{group}"] for r in train]
        assert len(line(panels["training loss"], f"beta: loss_{group}").get_xdata()) == len(train)
    for group in ("bicubic", "nearest"):
        psnr = line(panels["validation PSNR"], f"beta: val/{group}")
        assert list(psnr.get_ydata()) == [r[f"val/{group}/psnr"] for r in val]
        ssim = line(panels["validation SSIM"], f"beta: val/{group}")
        assert len(ssim.get_xdata()) == len(val)


def test_gan_losses(runs: dict[str, Path]) -> None:
    panels = axes_by_title(plot_runs([runs["gan"]]))
    train = records(runs["gan"], "train")
    assert "GAN losses (D/G)" in panels
    for key in ("l_g_gan", "l_d_real", "l_d_fake"):
        drawn = line(panels["GAN losses (D/G)"], f"_raw gan: {key}")
        assert list(drawn.get_ydata()) == [r[key] for r in train]
    assert len(line(panels["training loss"], "gan: l_g_pix").get_xdata()) == len(train)
    assert {"gan: lr", "gan: lr_d"} <= set(legend_texts(panels["learning rate"]))
    assert "Group DRO q per group" not in panels


def test_log_steps(runs: dict[str, Path]) -> None:
    figure = plot_runs([runs["alpha"], runs["gan"]], log_steps=True)
    assert figure.axes and all(ax.get_xscale() == "log" for ax in figure.axes)


def test_cli_writes_png_and_svg(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    png = tmp_path / "curves.png"
    assert main(["plot", str(runs["alpha"]), str(runs["beta"]), "-o", str(png)]) == 0
    assert str(png) in capsys.readouterr().out
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 600
    svg = tmp_path / "curves.svg"
    argv = ["plot", str(runs["alpha"]), str(runs["gan"]), "-o", str(svg), "--log-steps", "--smooth", "1"]
    assert main(argv) == 0
    text = svg.read_text()
    assert "<svg" in text and "alpha: loss" in text and "gan: l_d_real" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_names_and_raw_only(runs: dict[str, Path]) -> None:
    figure = plot_runs([runs["alpha"]], smooth_window=1, names=["mine"])
    loss = axes_by_title(figure)["training loss"]
    assert [ln.get_label() for ln in loss.get_lines()] == ["mine: loss"]


def test_non_finite_values_and_torn_last_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {"kind": "train", "step": 1, "time": 0.0, "loss": 0.5, "lr": 0.001},
        {"kind": "train", "step": 2, "time": 0.0, "loss": "nan", "lr": 0.001},
        {"kind": "val", "step": 2, "time": 0.0, "s/psnr": "inf", "s/ssim": 0.5},
    ]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"kind": "tra')
    log = read_log(run)
    assert len(log.train) == 2 and len(log.val) == 1
    figure = plot_runs([log], smooth_window=1)
    loss = line(axes_by_title(figure)["training loss"], "run: loss").get_ydata()
    assert loss[0] == 0.5 and math.isnan(loss[1])
    assert line(axes_by_title(figure)["validation PSNR"], "run: s").get_ydata()[0] == math.inf


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("srkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_errors(tmp_path: Path, capsys) -> None:
    assert "no such run folder" in _one_line_error(["plot", str(tmp_path / "nope")], capsys)
    err = _one_line_error(["plot", str(tmp_path)], capsys)
    assert str(tmp_path / "log.jsonl") in err and "missing" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "log.jsonl").write_text(
        '{"kind": "train", "step": 1, "loss": 1}\n{oops\n{"kind": "val", "step": 2}\n'
    )
    err = _one_line_error(["plot", str(bad)], capsys)
    assert "line 2" in err and str(bad / "log.jsonl") in err
    (bad / "log.jsonl").write_text('{"kind": "best", "step": 1}\n')
    assert "no train or validation records" in _one_line_error(["plot", str(bad)], capsys)
    (bad / "log.jsonl").write_text('{"kind": "train", "step": 1, "loss": 1}\n')
    err = _one_line_error(["plot", str(bad), "-o", str(tmp_path / "x.jpg")], capsys)
    assert "x.jpg" in err and ".png or .svg" in err
    assert "--smooth" in _one_line_error(["plot", str(bad), "--smooth", "0"], capsys)
    assert not (tmp_path / "x.jpg").exists()


def test_cli_default_matches_the_library() -> None:
    from srkit.cli import plot as cli_plot
    from srkit.report import curves

    assert cli_plot.DEFAULT_SMOOTH == curves.DEFAULT_SMOOTH


def test_runs_of_one_series_get_a_colour_each(tmp_path: Path) -> None:
    """A study's curves: one validation series per run, so each run needs its own colour."""
    folders = []
    for i in range(3):
        run = tmp_path / f"arm{i}"
        run.mkdir()
        records = [
            {"kind": "val", "step": s, "time": 0.0, "set5/psnr": 20.0 + i + s / 100, "set5/ssim": 0.5}
            for s in (100, 200)
        ]
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        folders.append(run)
    axes = axes_by_title(plot_runs(folders))["validation PSNR"]
    colours = [line(axes, f"arm{i}: set5").get_color() for i in range(3)]
    assert len(set(colours)) == 3


def test_many_lines_get_a_key_instead_of_one_entry_each(tmp_path: Path) -> None:
    """Six seeds of a study with four validation groups: 24 lines; the legend is a key of four group
    colours, six run styles (all different) and the bicubic reference, and every line keeps its label."""
    groups = ["bicubic", "bilinear", "nearest", "area"]
    folders = []
    for i in range(6):
        run = tmp_path / f"arm-s{i}"
        run.mkdir()
        records = [
            {"kind": "bicubic", "step": 0, "time": 0.0, **{f"holdout/{g}/psnr": 25.0 - i for g in groups}},
            *(
                {"kind": "val", "step": s, "time": 0.0, **{f"holdout/{g}/psnr": 26.0 + i for g in groups}}
                for s in (100, 200)
            ),
        ]
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        folders.append(run)
    axes = axes_by_title(plot_runs(folders))["validation PSNR"]
    assert len([ln for ln in axes.get_lines() if ": bicubic " not in ln.get_label()]) == 24
    texts = legend_texts(axes)
    assert texts == [*(f"holdout/{g}" for g in groups), *(f"arm-s{i}" for i in range(6)), "bicubic"]
    # matplotlib has no public getter of a dash pattern; _unscaled_dash_pattern is what set_linestyle set
    lines = [line(axes, f"arm-s{i}: holdout/nearest") for i in range(6)]
    styles = [(ln.get_linestyle(), str(ln._unscaled_dash_pattern)) for ln in lines]
    assert len(set(styles)) == 6 and ":" not in [s for s, _ in styles]
