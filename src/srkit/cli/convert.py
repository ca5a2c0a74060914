"""``srkit convert IN OUT.safetensors [--scale S]``: rewrite any loadable checkpoint as an srkit weight file.

The input is read safely (:mod:`srkit.io.safe_load`: never unpickles Python objects), its layout is
detected and its keys converted (:mod:`srkit.archs.loading`), the srkit network is built and loads the
weights strictly, and the output is written atomically (:func:`srkit.archs.save_weights`) with
the metadata ``arch``, ``hparams``, ``scale`` and ``extra`` = ``{'source': IN's file name,
'source_format': the detected layout, ...}``. The input is never overwritten. Importing this module is
cheap; torch and the converters are imported when the command runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from srkit.errors import SrkitError

_OUT_SUFFIX = ".safetensors"


def layouts_epilog() -> str:
    """``--help`` epilog: every checkpoint layout of the registered families (:mod:`srkit.archs`)."""
    from srkit.archs import format_descriptions  # torch: imported only when this help is shown

    rows = format_descriptions()
    width = max(map(len, rows)) + 2
    lines = [f"  {name:<{width}}{text}" for name, text in rows.items()]
    return "layouts srkit reads besides its own .safetensors files (detected from the keys):\n" + "\n".join(
        lines
    )


def add_convert_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit convert`` on the ``srkit`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "convert",
        help="rewrite a checkpoint (BasicSR, Real-ESRGAN, ESRGAN, EDSR, FSRCNN, VDSR, ...) as srkit weights",
        description=(
            "Read a checkpoint safely (.safetensors, or .pth/.pt/.ckpt/.bin with weights_only=True: files "
            "that pickle Python objects are refused), detect its layout, infer the network's "
            "hyper-parameters from the tensor shapes and write an srkit .safetensors weight file with "
            "metadata."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def format_help() -> str:  # the layout list is read from the registry only when asked for
        p.epilog = layouts_epilog()
        return argparse.ArgumentParser.format_help(p)

    p.format_help = format_help
    p.add_argument("input", type=Path, metavar="IN", help="checkpoint to convert")
    p.add_argument("output", type=Path, metavar="OUT", help="srkit weight file to write (.safetensors)")
    p.add_argument(
        "--scale",
        type=int,
        default=None,
        help="upscaling factor, for weights that do not store it (FSRCNN; else taken from a file name "
        "like fsrcnn_x3.pth); checked against the weights where they do",
    )
    p.set_defaults(func=_run_convert)


def _same_file(a: Path, b: Path) -> bool:
    if not b.exists():
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def convert_checkpoint(src: str | Path, dst: str | Path, *, scale: int | None = None) -> dict:
    """Convert ``src`` to the srkit weight file ``dst``; returns ``{'arch', 'hparams', 'scale',
    'source_format'}`` of what was written.

    Raises:
        SrkitError: one line: ``dst`` not ending in ``.safetensors`` or being ``src``, a scale < 1, and
            every failure of reading, detecting, converting or writing (naming the file).
    """
    # torch and the converters: imported when the command runs, so that `srkit --help` stays fast
    from srkit.archs import net_info, save_weights
    from srkit.archs.loading import SRKIT_FORMAT, read_any_checkpoint
    from srkit.io.checkpoint import read_weights_meta

    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() != _OUT_SUFFIX:
        raise SrkitError(f"{dst}: the output must be an srkit {_OUT_SUFFIX} file")
    if _same_file(src, dst) or src.absolute() == dst.absolute():
        raise SrkitError(f"{dst}: refusing to overwrite the input; choose another output file")
    if scale is not None and scale < 1:
        raise SrkitError(f"--scale: must be a positive integer, got {scale}")
    conversion = read_any_checkpoint(src, scale=scale)
    model = conversion.build(src)
    deploy = getattr(model, "fused", None)  # networks with a training form write their inference form
    if callable(deploy):
        model = deploy()
    extra = read_weights_meta(src).extra if conversion.source_format == SRKIT_FORMAT else {}
    extra = {**extra, "source": src.name, "source_format": conversion.source_format}
    save_weights(dst, model, extra=extra)
    return {
        "arch": model.arch_name,
        "hparams": dict(model.hparams),
        "scale": net_info(model).scale,
        "source_format": conversion.source_format,
    }


def _run_convert(args: argparse.Namespace) -> int:
    info = convert_checkpoint(args.input, args.output, scale=args.scale)
    hparams = ", ".join(f"{k}={v}" for k, v in info["hparams"].items() if k != "rgb_mean")
    print(
        f"wrote {args.output}: {info['arch']} x{info['scale']} ({hparams}) "
        f"from {args.input.name} ({info['source_format']} layout)"
    )
    return 0
