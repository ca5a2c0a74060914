"""Messages that tell the fix (issue 15): CLI words in CLI errors, every accepted model name, where a
tile overlap came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srkit.cli import main
from srkit.io import write_image
from srkit.models import MODELS


def test_no_download_dataset_error_speaks_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    assert main(["eval", "--model", "bicubic", "--dataset", "set5", "--no-download", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "drop --no-download" in err and len(err.strip().splitlines()) == 1
    assert "https://" in err and str(tmp_path / "cache") in err


def test_unknown_model_lists_the_named_models(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    write_image(photo, np.zeros((8, 8, 3), dtype=np.uint8))
    assert main(["upscale", str(photo), "--model", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in MODELS) and "published models (`srkit models`)" in err
    assert "bicubic" in err and ".safetensors" in err and len(err.strip().splitlines()) == 1


def test_tile_overlap_error_names_both_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    write_image(photo, np.zeros((8, 8, 3), dtype=np.uint8))
    code = main(["upscale", str(photo), "--model", "bicubic", "--tile", "20", "--tile-overlap", "10"])
    err = capsys.readouterr().err
    assert code == 2 and "(--tile-overlap) must be less than half the tile size (20, --tile)" in err
    assert "default overlap is lowered to fit" in err
    # without --tile-overlap, a small tile lowers the default overlap instead of failing
    assert main(["upscale", str(photo), "--model", "bicubic", "--tile", "20", "--scale", "2"]) == 0
