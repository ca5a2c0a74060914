"""`srkit eval` on images too small for a scale or border crop (issue 11, item 10): skipped and listed
with one line each naming the file and why, counted in the table and ``eval.json``; identical images
(PSNR infinity) give strict JSON (``null``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srkit.archs import InterpolationUpscaler
from srkit.cli import main
from srkit.data import resolve_dataset
from srkit.degrade import parse_groups
from srkit.evaluation import evaluate, size_problem


def _strict_json(path: Path) -> dict:
    """``path`` parsed as strict JSON (``Infinity``/``NaN`` tokens are an error)."""

    def refuse(token: str) -> float:
        raise ValueError(f"{path}: non-standard JSON token {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture
def small_images(tmp_path: Path) -> Path:
    """4x4, 23x17 (W x H), 1x1 and a normal 48x40 RGB image."""
    folder = tmp_path / "small"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {
        "a4.png": (4, 4),
        "b23x17.png": (17, 23),
        "c1.png": (1, 1),
        "d48.png": (40, 48),
    }.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder


def _eval(folder: Path, out: Path, *extra: str) -> int:
    return main(
        ["eval", "--model", "bicubic", "--dataset", str(folder), "--out", str(out), "--no-progress", *extra]
    )


@pytest.mark.parametrize(
    ("extra", "skipped", "scored"),
    [
        (["--scale", "2"], {"a4.png", "c1.png"}, 2),  # 4x4 at x2: 0x0 left after the border crop
        (["--scale", "3"], {"a4.png", "b23x17.png", "c1.png"}, 1),  # 21x15 at x3 -> 15x9 left
        (["--scale", "2", "--crop-border", "4"], {"a4.png", "b23x17.png", "c1.png"}, 1),
        (["--scale", "2", "3", "--degradations", "all"], {"a4.png", "b23x17.png", "c1.png"}, 15),
    ],
)
def test_small_images_are_skipped_and_listed(
    small_images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    skipped: set,
    scored: int,
) -> None:
    out = tmp_path / "out"
    assert _eval(small_images, out, *extra) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err == ""
    lines = [line for line in captured.out.splitlines() if line.startswith("skip ")]
    data = _strict_json(out / "eval.json")
    assert {s["image"] for s in data["skipped"]} == skipped
    assert data["skipped_count"] == len(data["skipped"]) == len(lines)
    for line, item in zip(lines, data["skipped"], strict=True):
        assert line.startswith(f"skip {small_images / item['image']} (x{item['scale']}): ")
        assert item["reason"] in line and ("smaller than the scale" in line or "at least 11x11" in line)
    assert len(data["images"]) == scored
    pairs = len(lines) + len({(i["image"], i["scale"]) for i in data["images"]})
    assert f"skipped {len(lines)} of {pairs} (image, scale) pairs" in captured.out  # under the table


def test_one_pixel_image_does_not_stop_the_others(small_images: Path, tmp_path: Path, capsys) -> None:
    assert _eval(small_images, tmp_path / "o", "--scale", "2") == 0
    out = capsys.readouterr().out
    assert f"skip {small_images / 'c1.png'} (x2): 1x1 is smaller than the scale x2" in out
    assert {i["image"] for i in _strict_json(tmp_path / "o" / "eval.json")["images"]} == {
        "b23x17.png",
        "d48.png",
    }


@pytest.mark.parametrize("extra", [["--scale", "40"], ["--scale", "2", "--crop-border", "100"]])
def test_nothing_scored_is_one_line_error_after_writing_the_list(
    small_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    out = tmp_path / "out"
    assert _eval(small_images, out, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("srkit: error: nothing was scored: all 4 ") and err.count("\n") == 1
    assert "Traceback" not in err and str(out / "eval.json") in err
    assert _strict_json(out / "eval.json")["skipped_count"] == 4


def test_scale_one_writes_strict_json_with_null_for_infinite_psnr(
    small_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _eval(small_images, out, "--scale", "1") == 0
    text = (out / "eval.json").read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    data = _strict_json(out / "eval.json")
    assert all(i["psnr"] is None and i["ssim"] == pytest.approx(1.0) for i in data["images"])
    (group,) = data["groups"]
    assert group["psnr"] is None and group["images"] == 2
    assert data["summary"][0]["mean_psnr"] is None
    assert "inf" in (out / "groups.csv").read_text(encoding="utf-8")  # the CSVs keep inf
    assert " inf " in capsys.readouterr().out  # and so does the table


def test_report_keeps_inf_in_memory_and_skips_in_the_report(small_images: Path) -> None:
    dataset = resolve_dataset(str(small_images))
    report = evaluate(
        InterpolationUpscaler("bicubic"), [dataset], [1, 2], parse_groups("bicubic"), progress=False
    )
    assert all(math.isinf(s.psnr) for s in report.images if s.scale == 1)
    assert [(s.image, s.scale) for s in report.skipped] == [
        ("a4.png", 1),
        ("a4.png", 2),
        ("c1.png", 1),
        ("c1.png", 2),
    ]


def test_size_problem_rules() -> None:
    assert size_problem(40, 48, 2, 2) is None
    assert "mod-cropped to x2, 14x14 with a border crop of 2 leaves 10x10" in (
        size_problem(15, 15, 2, 2) or ""
    )
    assert size_problem(15, 15, 2, 2, min_size=10) is None
    assert size_problem(16, 16, 2, 2) is None
    assert "smaller than the scale x4" in (size_problem(3, 100, 4, 4) or "")
    assert "mod-cropped to x3, 21x15" in (size_problem(17, 23, 3, 3) or "")
    assert "at least 31x31" in (size_problem(34, 40, 2, 2, min_size=31) or "")
