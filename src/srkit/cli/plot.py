"""``srkit plot RUN [RUN ...] [-o curves.png] [--log-steps] [--smooth W]``: training curves of runs from
their ``log.jsonl`` (:mod:`srkit.report.curves`; docs/report.md). Importing this module is cheap;
matplotlib is imported when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from srkit.errors import SrkitError

#: Default moving-average window of the losses, in log records (srkit.report.curves.DEFAULT_SMOOTH).
DEFAULT_SMOOTH = 5


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit plot`` on the ``srkit`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "plot",
        help="plot training curves of runs (validation PSNR/SSIM, losses, learning rate, ...)",
        description=(
            "Draw the training curves of one or several runs from their log.jsonl, overlaid: validation "
            "PSNR and SSIM per set and group (bicubic dotted), training losses (smoothed, raw faint), the "
            "learning rate, Group DRO's q per group and GAN D/G losses when logged. PNG or SVG by the "
            "output's suffix."
        ),
    )
    p.add_argument(
        "runs", nargs="+", type=Path, metavar="RUN", help="run folders (with log.jsonl) or log files"
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("curves.png"),
        metavar="FILE",
        help="image to write, .png or .svg (default curves.png)",
    )
    p.add_argument("--log-steps", action="store_true", help="logarithmic step axis")
    p.add_argument(
        "--smooth",
        type=int,
        default=DEFAULT_SMOOTH,
        metavar="W",
        help=f"moving average of the losses over W log records (default {DEFAULT_SMOOTH}; 1: raw only)",
    )
    p.add_argument(
        "--names",
        nargs="+",
        default=None,
        metavar="NAME",
        help="legend names of the runs (default: folder names)",
    )
    p.set_defaults(func=_run_plot)


def _run_plot(args: argparse.Namespace) -> int:
    if args.smooth < 1:
        raise SrkitError(f"--smooth: must be >= 1, got {args.smooth}")
    from srkit.report.curves import plot_runs  # import-time cost: matplotlib loads only when plotting

    plot_runs(args.runs, args.out, log_steps=args.log_steps, smooth_window=args.smooth, names=args.names)
    print(f"wrote {args.out}")
    return 0
