"""``srkit upscale`` and ``srkit models``.

Only the parser builders are imported by :mod:`srkit.cli`; the pipeline (and PyTorch) is imported when
``upscale`` runs, and ``models`` needs only the table of :mod:`srkit.models`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from srkit.errors import ConfigError

DEFAULT_SCALE = 4
#: The samplers of iterative models (``srkit.archs.sr3.sampling.SAMPLER_NAMES``, listed here so that
#: building the parser does not import torch; a test keeps the two equal).
SAMPLERS = ("sr3", "ddim", "dpmpp_2m")
_SAMPLING_FLAGS = ("steps", "sampler", "seed")


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    """``--steps``, ``--sampler`` and ``--seed`` for iterative models (SR3, docs/sr3.md)."""
    group = p.add_argument_group("iterative models (sr3)")
    group.add_argument(
        "--steps", type=int, default=None, metavar="N", help="sampling steps (default: the weights')"
    )
    group.add_argument(
        "--sampler",
        default=None,
        choices=SAMPLERS,
        help="sr3 (ancestral, SR3 Algorithm 2), ddim (deterministic) or dpmpp_2m (DPM-Solver++(2M)); "
        "default: the weights'",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="noise seed (default 0; the same seed, the same image)",
    )


def apply_sampling_arguments(upscalers: Sequence[object], args: argparse.Namespace) -> None:
    """Set ``--steps/--sampler/--seed`` on every iterative runner of ``upscalers``; a ConfigError when
    they are given and no model is iterative, or when the sampling schedule leaves the trained range."""
    given = {key: getattr(args, key) for key in _SAMPLING_FLAGS if getattr(args, key, None) is not None}
    if not given:
        return
    # import-time cost: torch loads only when a command runs
    from srkit.archs.sr3 import SR3Runner

    iterative = [u for u in upscalers if isinstance(u, SR3Runner)]
    if not iterative:
        flags = "/".join(f"--{key}" for key in given)
        raise ConfigError(f"{flags}: only iterative models (sr3) sample; no --model here is one")
    for runner in iterative:
        runner.configure(**given)


def add_upscale_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``upscale`` subcommand."""
    p = sub.add_parser(
        "upscale",
        help="upscale images, folders or glob patterns",
        description=(
            "Upscale image files (PNG, JPEG, WebP, TIFF, BMP) with a named model, a weights file or an "
            "interpolation baseline. Writes <stem>_x<scale>.<ext> beside each input (or into -o OUTDIR), "
            "in seamless overlapping tiles. Gray stays gray, alpha is kept (upscaled bicubic), 16-bit "
            "stays 16-bit (PNG/TIFF), EXIF orientation is applied and the ICC profile carried over. "
            "Outputs record that srkit wrote them (an XMP packet: source, model, scale), so a folder "
            "can be its own output folder and --overwrite replaces only srkit's outputs. "
            "Bad files are listed at the end and make the exit status 1."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument(
        "-o",
        "--out",
        dest="out_dir",
        type=Path,
        default=None,
        metavar="OUTDIR",
        help="output folder (default: beside each input; sub-folders of a folder input are kept)",
    )
    p.add_argument(
        "--scale",
        type=int,
        default=None,
        help=f"upscaling factor: 2, 3 or 4 for named models (default: the model's own, else {DEFAULT_SCALE})",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME|PATH",
        help="named model (see `srkit models`; default: the default for --scale), a weights file, or an "
        "interpolation baseline (bicubic, lanczos3, ...)",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="N",
        help="tile side in input pixels (default: chosen from free memory; 0: the whole image at once)",
    )
    p.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        metavar="N",
        help="input pixels shared by neighbouring tiles, blended (default: the network's, 16 for "
        "convolutional networks, 48 for SwinIR, 64 for HAT; less than half the tile)",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["fp32", "bf16", "fp16", "auto"],
        help="model arithmetic (default auto: bf16 on CPUs that compute it natively, fp16 on CUDA)",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        default=None,
        choices=["png", "jpg", "webp"],
        help="output format (default: the input's, or png when the input's suffix is not an image one)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs that srkit wrote (never an input, never a file srkit did not write)",
    )
    p.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    add_sampling_arguments(p)
    p.set_defaults(func=run_upscale_command)


def run_upscale_command(args: argparse.Namespace) -> int:
    """Handler of ``srkit upscale``: 0 when every file was written or skipped, 1 when any failed."""
    # import-time cost: torch and the upscaling stack load only when the command runs
    from srkit.infer.upscale import TileSize, plan_jobs, resolve_scale, run_upscale
    from srkit.infer.upscalers import load_upscaler
    from srkit.io.atomic import install_signal_cleanup
    from srkit.models import default_model

    install_signal_cleanup()  # SIGTERM/SIGHUP: no hidden temporary files left behind
    if args.scale is not None and args.scale < 1:
        raise ConfigError(f"--scale: must be a positive integer, got {args.scale}")
    tiles = TileSize(args.tile, args.tile_overlap)
    model = args.model if args.model is not None else default_model(args.scale or DEFAULT_SCALE)
    upscaler = load_upscaler(model, device=args.device, precision=args.precision)
    apply_sampling_arguments([upscaler], args)
    scale = resolve_scale(upscaler, args.scale, DEFAULT_SCALE)
    jobs = plan_jobs(
        args.inputs,
        scale=scale,
        out_dir=args.out_dir,
        fmt=args.fmt,
        overwrite=args.overwrite,
        recursive=args.recursive,
    )
    progress = sys.stderr.isatty()
    result = run_upscale(jobs, upscaler, scale, tiles=tiles, progress=progress)
    summary = f"upscaled {len(result.written)}, skipped {len(result.skipped)}, failed {len(result.failed)}"
    print(f"{summary} (model {upscaler.name}, x{scale})")
    if result.failed:
        print(f"srkit: {len(result.failed)} input(s) failed:", file=sys.stderr)
        for source, reason in result.failed:
            print(f"  {source}: {reason}", file=sys.stderr)
        return 1
    return 0


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``models`` subcommand."""
    p = sub.add_parser(
        "models",
        help="list the named models (--archs: the registered architectures)",
        description="List srkit's named models: scale, parameters, training data, Set5/Set14 PSNR, "
        "and whether their weights are installed. With --archs, list the registered architectures "
        "instead: presets, what the network takes (colour, input, scales, size multiple, precisions, "
        "tiling) and the checkpoint layouts srkit converts to it.",
    )
    p.add_argument("--archs", action="store_true", help="list the registered architectures")
    p.set_defaults(func=run_models_command)


def _psnr(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def models_table() -> str:
    """The named models as a plain-text table (``*`` marks the default for its scale)."""
    from srkit.models import DEFAULT_MODELS, MODELS, WEIGHTS_DIR  # import-time cost: only this command

    defaults = set(DEFAULT_MODELS.values())
    header = ("name", "scale", "params", "training data", "Set5 PSNR", "Set14 PSNR", "available")
    rows = [
        (
            card.name + (" *" if card.name in defaults else ""),
            f"x{card.scale}",
            f"{card.params / 1e6:.2f}M",
            card.training_data,
            _psnr(card.set5_psnr),
            _psnr(card.set14_psnr),
            "yes" if card.available else "no",
        )
        for card in MODELS.values()
    ]
    lines = _table(header, rows)
    lines += [
        "",
        "* default for its scale. PSNR: Y channel, dB, bicubic LR, border crop = scale (srkit eval).",
        f"weights: {WEIGHTS_DIR}/<name>.safetensors (trained with `srkit train <recipe>`)",
    ]
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def archs_table() -> str:
    """Every registered architecture as a plain-text table, read from the registry."""
    from srkit.archs import ARCH_ENTRIES  # torch: only `srkit models --archs` needs it

    header = ("arch", "presets", "colour", "input", "scales", "multiple", "precisions", "tiling", "layouts")
    rows = []
    for entry in ARCH_ENTRIES.values():
        info = entry.describe({})
        rows.append(
            (
                entry.name,
                ", ".join(entry.presets) or "-",
                info.color,
                info.input,
                "any" if entry.scales is None else "/".join(map(str, entry.scales)),
                str(info.size_multiple),
                "/".join(info.precisions),
                info.tiling,
                ", ".join(layout.name for layout in entry.layouts) or "-",
            )
        )
    return "\n".join(
        [*_table(header, rows), "", "(colour, input and multiple at the default hyper-parameters)"]
    )


def run_models_command(args: argparse.Namespace) -> int:
    """Handler of ``srkit models``."""
    print(archs_table() if args.archs else models_table())
    return 0
