"""``srkit interpolate PSNR_MODEL GAN_MODEL --alpha A [A ...] -o OUT.safetensors``: ESRGAN network
interpolation.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV Workshops 2018,
sec. 3.4: ``theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN`` over every parameter of two networks
of the same architecture, a continuous knob between fidelity (alpha 0) and GAN detail (alpha 1). The
arithmetic and the checks live in :mod:`srkit.archs.interpolate`. Importing this module is cheap; torch is
imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_interpolate_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit interpolate`` on the ``srkit`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "interpolate",
        help="blend a PSNR-oriented and a GAN-trained network (ESRGAN network interpolation)",
        description=(
            "Write theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN (Wang et al. 2018, ESRGAN sec. 3.4) "
            "as an srkit .safetensors weight file. Both models must have the same architecture, "
            "hyper-parameters and scale; inputs are named models (srkit models, e.g. edsr-baseline-x2), "
            "srkit weight files or third-party checkpoints that 'srkit convert' reads. With several "
            "--alpha values, one file per value is written as OUT_alpha<A>.safetensors."
        ),
    )
    p.add_argument(
        "psnr_model", metavar="PSNR_MODEL", help="the PSNR-oriented model (alpha 0): a named model or a file"
    )
    p.add_argument(
        "gan_model", metavar="GAN_MODEL", help="the GAN-trained model (alpha 1): a named model or a file"
    )
    p.add_argument(
        "--alpha",
        type=float,
        nargs="+",
        required=True,
        metavar="A",
        help="weight of the GAN model, in [0, 1] (e.g. 0.8); several values write several files",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        metavar="OUT",
        help="srkit weight file to write (.safetensors)",
    )
    p.set_defaults(func=_run_interpolate)


def _run_interpolate(args: argparse.Namespace) -> int:
    # import-time cost: torch loads only when the command runs
    from srkit.archs.interpolate import interpolate_checkpoints

    paths = interpolate_checkpoints(args.psnr_model, args.gan_model, args.alpha, args.out)
    for path in paths:
        print(f"wrote {path}")
    return 0
