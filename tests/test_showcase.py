"""``srkit eval --show-best N``: the crop choice, the ranking by PSNR gain over bicubic, the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srkit.cli import main
from srkit.evaluation import ImageSample, ImageScore
from srkit.evaluation.showcase import (
    LABEL_HEIGHT,
    PANEL_GAP,
    BestCrops,
    best_window,
    improvement_map,
    side_by_side,
)


def test_best_window_finds_the_hot_spot_aligned_and_clipped() -> None:
    score = np.zeros((40, 50))
    score[30:34, 41:45] = 1.0
    top, left, h, w = best_window(score, 8)
    assert (h, w) == (8, 8) and top <= 30 and top + 8 >= 34 and left <= 41 and left + 8 >= 45
    top, left, h, w = best_window(score, 8, step=4)
    assert top % 4 == 0 and left % 4 == 0 and (top, left) == (28, 40)
    assert best_window(score, 128, step=4) == (0, 0, 40, 48)  # clipped, a multiple of the step
    assert best_window(np.zeros((10, 10)), 4) == (0, 0, 4, 4)  # ties: top-left
    with pytest.raises(ValueError):
        best_window(score, 0)


def test_improvement_map_sign_and_border() -> None:
    hr = np.full((6, 6, 3), 100, dtype=np.uint8)
    sr = hr.copy()
    bicubic = hr.copy()
    bicubic[2, 2] = 110  # bicubic wrong here: positive gain
    sr[3, 3] = 90  # SR wrong here: negative gain
    sr[0, 0] = 0  # inside the border: ignored
    gain = improvement_map(sr, bicubic, hr, border=1, y_channel=False)
    assert gain[2, 2] == pytest.approx(100.0) and gain[3, 3] == pytest.approx(-100.0)
    assert gain[0, 0] == 0.0 and np.count_nonzero(gain) == 2


def test_side_by_side_size_and_layout() -> None:
    a = np.zeros((10, 12, 3), dtype=np.uint8)
    b = np.full((10, 12), 200, dtype=np.uint8)
    out = side_by_side([a, b], ["a", "b"])
    assert out.shape == (10 + LABEL_HEIGHT, 2 * 12 + PANEL_GAP, 3) and out.dtype == np.uint8
    assert (out[:10, :12] == 0).all() and (out[:10, 12 + PANEL_GAP :] == 200).all()
    assert (out[:10, 12 : 12 + PANEL_GAP] == 255).all()
    assert (out[10:] < 255).any()  # the labels were drawn


def test_best_crops_keeps_the_largest_gains(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    best = BestCrops(2, y_channel=True, crop=8)
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    hr = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    sample = ImageSample(lr=lr, sr=hr.copy(), hr=hr, border=2)
    for name, psnr in (("a.png", 10.0), ("b.png", 50.0), ("c.png", 30.0), ("d.png", 20.0)):
        best(ImageScore("set", "bicubic", 2, name, psnr, 0.5), sample)
    paths = best.write(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "set/bicubic/x2/01_b.png",
        "set/bicubic/x2/02_c.png",
    ]
    from PIL import Image

    with Image.open(paths[0]) as im:
        assert im.size == (4 * 8 + 3 * PANEL_GAP, 8 + LABEL_HEIGHT) and im.mode == "RGB"


def test_cli_show_best_writes_crops_per_cell(tmp_path: Path, capsys) -> None:
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir()
    yy, xx = np.mgrid[0:48, 0:52]
    smooth = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(folder / "smooth.png")
    noise = np.random.default_rng(0).integers(0, 256, (36, 40), dtype=np.uint8)
    Image.fromarray(noise, mode="L").save(folder / "gray.png")
    out = tmp_path / "out"
    argv = ["eval", "--model", "lanczos3", "--dataset", str(folder), "--scale", "2", "4"]
    code = main([*argv, "--degradations", "bicubic,nearest", "--show-best", "1", "--out", str(out)])
    assert code == 0 and "4 side-by-side crops" in capsys.readouterr().out
    files = sorted((out / "best").rglob("*.png"))
    assert len(files) == 4  # 2 scales x 2 groups x 1 image
    assert {f.parent.relative_to(out / "best").as_posix() for f in files} == {
        "hr/bicubic/x2",
        "hr/bicubic/x4",
        "hr/nearest/x2",
        "hr/nearest/x4",
    }
    code = main([*argv, "--degradations", "bicubic", "--show-best", "5", "--out", str(out / "all")])
    assert code == 0
    files = sorted((out / "all" / "best").rglob("*.png"))
    assert len(files) == 4  # fewer images than N: every image, 2 per cell
    sizes = {}
    for f in files:
        with Image.open(f) as im:
            sizes[f.name[3:]] = im.size
    # crop = whole image (smaller than 128), four panels with gaps, a label strip underneath
    assert sizes["smooth.png"] == (4 * 52 + 3 * PANEL_GAP, 48 + LABEL_HEIGHT)
    assert sizes["gray.png"] == (4 * 40 + 3 * PANEL_GAP, 36 + LABEL_HEIGHT)


def test_cli_show_best_negative_is_one_line_error(tmp_path: Path, capsys) -> None:
    code = main(["eval", "--model", "bicubic", "--dataset", "sample", "--show-best", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and "--show-best" in err and err.count("\n") == 1
