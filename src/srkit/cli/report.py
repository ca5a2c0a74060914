"""``srkit report DIR [DIR ...] [-o report.html]``: one self-contained HTML report of ``srkit eval`` output
folders (:mod:`srkit.report.page`; docs/report.md). Importing this module is cheap; the report stack
(PyTorch, matplotlib) is imported when the command runs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from srkit.errors import SrkitError

#: Images per dataset and scale with the largest (and as many with the smallest) gains over bicubic.
DEFAULT_CROPS = 3
#: Side in HR pixels of the zoomed crops.
DEFAULT_CROP_SIZE = 96
REPORT_FILE = "report.html"


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit report`` on the ``srkit`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML report of srkit eval output folders",
        description=(
            "Write one HTML file (no network needed: inline CSS/JS, images embedded) from srkit eval output "
            "folders: the comparison table (sortable, best in bold), per-group bar charts with the worst "
            "group marked, a per-image table with the PSNR gain over bicubic, zoomed crops of the images "
            "with the largest and smallest gains (LR, bicubic, every model, HR) with a before/after slider, "
            "and the settings recorded in eval.json. The crops need the SR images of srkit eval "
            "--save-images (or --report)."
        ),
    )
    p.add_argument(
        "folders",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="srkit eval output folders (with eval.json), or the --out folder of an eval of several models",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"HTML file to write (default: DIR/{REPORT_FILE} for one folder; required for several)",
    )
    add_crop_arguments(p)
    p.set_defaults(func=_run_report)


def add_crop_arguments(p: argparse.ArgumentParser) -> None:
    """``--crops`` and ``--crop-size`` (also taken by ``srkit eval --report``)."""
    p.add_argument(
        "--crops",
        type=int,
        default=DEFAULT_CROPS,
        metavar="N",
        help=f"zoomed crops of the N images per dataset and scale with the largest and the N with the "
        f"smallest PSNR gain over bicubic (default {DEFAULT_CROPS}; 0: none, no saved images needed)",
    )
    p.add_argument(
        "--crop-size",
        type=int,
        default=DEFAULT_CROP_SIZE,
        metavar="PX",
        help=f"side of the crops in HR pixels (default {DEFAULT_CROP_SIZE})",
    )


def report_path(folders: Sequence[Path], out: Path | None) -> Path:
    """``out``, else ``DIR/report.html`` of the single folder given."""
    if out is not None:
        return out
    if len(folders) > 1:
        raise SrkitError(f"-o/--out: needed with several folders ({len(folders)} given)")
    return folders[0] / REPORT_FILE


def write_html_report(folders: Sequence[Path], out: Path, crops: int, crop_size: int) -> Path:
    """Write the report and print where (used by ``srkit report`` and ``srkit eval --report``)."""
    if crops < 0:
        raise SrkitError(f"--crops: must be >= 0, got {crops}")
    if crop_size < 1:
        raise SrkitError(f"--crop-size: must be >= 1, got {crop_size}")
    from srkit.report.page import write_report  # import-time cost: torch and matplotlib load here

    path = write_report(folders, out, crops=crops, crop_size=crop_size)
    print(f"wrote {path}")
    return path


def _run_report(args: argparse.Namespace) -> int:
    write_html_report(args.folders, report_path(args.folders, args.out), args.crops, args.crop_size)
    return 0
