"""``srkit upscale`` and ``srkit models``.

Only the parser builders are imported by :mod:`srkit.cli`; the pipeline (and PyTorch) is imported when
``upscale`` runs, and ``models`` needs only the table of :mod:`srkit.models`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkit.errors import ConfigError

if TYPE_CHECKING:
    from srkit.catalogue import PublishedModel

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


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--max-pixels`` (``srkit upscale`` and ``srkit eval``)."""
    group = p.add_argument_group("runtime")
    group.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for the model (default: PyTorch's, one per core; under load or with small tiles "
        "fewer can be faster: 1 thread ran small tiles 12x faster than 2 on a loaded 2-core machine)",
    )
    group.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="largest input image in pixels (default: from the free memory; also $SRKIT_MAX_PIXELS)",
    )


def add_compile_argument(p: argparse.ArgumentParser) -> None:
    """``--compile`` (``srkit upscale`` and ``srkit eval``): :class:`srkit.archs.Runner`'s ``compile``."""
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (inductor, frozen weights): the first call of each image or tile size "
        "compiles for seconds, later ones ran 1.25-1.35x faster at 512 px in bf16 on an AMX CPU "
        "(docs/speed.md); worth it for many tiles or equal-sized images, not for one small image",
    )


def apply_runtime_arguments(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (``torch.set_num_threads``) and ``--max-pixels`` (``$SRKIT_MAX_PIXELS`` for
    this process, which every image read honours); one-line errors for bad values."""
    import os

    threads, max_pixels = getattr(args, "threads", None), getattr(args, "max_pixels", None)
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads: must be a positive integer, got {threads}")
        import torch  # import-time cost: only when a command runs with --threads

        torch.set_num_threads(threads)
    if max_pixels is not None:
        if max_pixels < 1:
            raise ConfigError(f"--max-pixels: must be a positive integer, got {max_pixels}")
        from srkit.io.images.limits import MAX_PIXELS_ENV

        os.environ[MAX_PIXELS_ENV] = str(max_pixels)


def add_upscale_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``upscale`` subcommand."""
    p = sub.add_parser(
        "upscale",
        help="upscale images, folders or glob patterns",
        description=(
            "Upscale image files (PNG, JPEG, WebP, TIFF, BMP, GIF; animations and multi-page TIFFs frame "
            "by frame) with a named model, a weights file or an interpolation baseline. Writes "
            "<stem>_x<scale>.<ext> beside each input (or into -o OUTDIR, or -o FILE for one input; "
            "--name/--suffix), in seamless overlapping tiles; --outscale/--width/--height resize the "
            "model's output to any size, --scale beyond the model's chains models. Gray stays gray, alpha "
            "is kept (upscaled bicubic), 16-bit stays 16-bit (PNG/TIFF), EXIF orientation is applied and "
            "the ICC profile carried over. "
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
        help="output folder (default: beside each input; sub-folders of a folder input are kept), or the "
        "output file when there is one input (an image suffix that is not a folder)",
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
    size = p.add_argument_group("output size and names")
    size.add_argument(
        "--outscale",
        type=float,
        default=None,
        metavar="F",
        help="any output factor (3.5, 1.5, 8): the model's scale, then a final MATLAB-style bicubic resize "
        "to ceil(F*w) x ceil(F*h), as Real-ESRGAN's --outscale",
    )
    size.add_argument(
        "--width", type=int, default=None, metavar="W", help="output width (the height keeps the aspect)"
    )
    size.add_argument(
        "--height",
        type=int,
        default=None,
        metavar="H",
        help="output height (the width keeps the aspect); with --width: the largest size inside W x H",
    )
    names = size.add_mutually_exclusive_group()
    names.add_argument(
        "--name",
        default=None,
        metavar="TEMPLATE",
        help="output file name without suffix, from {stem} (the input's), {tag} (x4, x3.5, w1024), "
        "{scale} (4, 3.5) and {model}; default {stem}_{tag}",
    )
    names.add_argument(
        "--suffix", default=None, metavar="TEXT", help="appended to the input's stem (--name '{stem}TEXT')"
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
        choices=["png", "jpg", "webp", "tiff", "bmp", "gif"],
        help="output format (default: the input's, or png when the input's suffix is not an image one). "
        "Animated GIF/PNG/WebP and multi-page TIFF inputs are upscaled frame by frame into gif, png, "
        "webp or tiff; jpg and bmp get frame 1, and alpha composited over --background",
    )
    p.add_argument(
        "--first-frame",
        action="store_true",
        help="upscale only frame 1 (page 1) of an animated or multi-page input, as a still image",
    )
    p.add_argument(
        "--background",
        default=None,
        metavar="COLOUR",
        help="colour that alpha is composited over in formats without alpha (jpg, bmp): #rrggbb, r,g,b "
        "or white, black, gray, red, green, blue (default white)",
    )
    p.add_argument(
        "--quality",
        type=int,
        default=None,
        metavar="Q",
        help="JPEG and WebP quality, 1-100 (default 95)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs that srkit wrote (never an input, never a file srkit did not write)",
    )
    p.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    p.add_argument(
        "--no-download",
        action="store_true",
        help="never download a published --model (it must be in the cache; `srkit models pull NAME`)",
    )
    add_sampling_arguments(p)
    add_runtime_arguments(p)
    add_compile_argument(p)
    p.set_defaults(func=run_upscale_command)


def run_upscale_command(args: argparse.Namespace) -> int:
    """Handler of ``srkit upscale``: 0 when every file was written or skipped, 1 when any failed."""
    # import-time cost: torch and the upscaling stack load only when the command runs
    from srkit.infer.frames import OutputOptions
    from srkit.infer.sizing import OutputSize
    from srkit.infer.upscale import TileSize, plan_jobs, run_upscale
    from srkit.io.atomic import install_signal_cleanup

    install_signal_cleanup()  # SIGTERM/SIGHUP: no hidden temporary files left behind
    if args.scale is not None and args.scale < 1:
        raise ConfigError(f"--scale: must be a positive integer, got {args.scale}")
    out_size = OutputSize(args.outscale, args.width, args.height)
    output = OutputOptions.from_cli(args.quality, args.background, args.first_frame, out_size)
    apply_runtime_arguments(args)
    tiles = TileSize(args.tile, args.tile_overlap)
    upscaler, scale = _upscaler_and_scale(args)
    if out_size.outscale is not None and out_size.outscale > scale:
        print(
            f"srkit: note: --outscale {out_size.outscale:g} is above the model's x{scale}: the rest is a "
            f"bicubic resize (--scale N chains models for integer factors)",
            file=sys.stderr,
        )
    jobs = plan_jobs(
        args.inputs,
        scale=scale,
        out_dir=args.out_dir,
        fmt=args.fmt,
        overwrite=args.overwrite,
        recursive=args.recursive,
        naming=_naming(args, upscaler.name, scale, out_size),
    )
    progress = sys.stderr.isatty()
    result = run_upscale(jobs, upscaler, scale, tiles=tiles, progress=progress, output=output)
    summary = f"upscaled {len(result.written)}, skipped {len(result.skipped)}, failed {len(result.failed)}"
    sized = f", then resized to {out_size.tag(scale)}" if out_size.given else ""
    print(f"{summary} (model {upscaler.name}, x{scale}{sized})")
    if result.failed:
        print(f"srkit: {len(result.failed)} input(s) failed:", file=sys.stderr)
        for source, reason in result.failed:
            print(f"  {source}: {reason}", file=sys.stderr)
        return 1
    return 0


def _default_model_for(scale: int | None) -> str:
    """The named model for ``--scale`` without ``--model``: the default of that scale, else of its largest
    factor among the defaults' (x8: edsr-baseline-x4, chained with edsr-baseline-x2 afterwards)."""
    from srkit.models import DEFAULT_MODELS, default_model

    scale = scale or DEFAULT_SCALE
    if scale in DEFAULT_MODELS:
        return default_model(scale)
    factors = [f for f in sorted(DEFAULT_MODELS, reverse=True) if scale % f == 0]
    return default_model(factors[0] if factors else scale)


def _upscaler_and_scale(args: argparse.Namespace) -> tuple[Any, int]:
    """``--model``/``--scale`` -> the upscaler (a chain of models when ``--scale`` is beyond the model's
    own, said on stderr) and the scale it runs at."""
    from srkit.infer.upscale import resolve_scale
    from srkit.infer.upscalers import ChainedUpscaler, chain_for_scale, load_upscaler
    from srkit.models import find_model

    model = args.model if args.model is not None else _default_model_for(args.scale)
    upscaler = load_upscaler(
        model,
        device=args.device,
        precision=args.precision,
        download=not args.no_download,
        compile=args.compile,
    )
    apply_sampling_arguments([upscaler], args)
    if args.scale is None:
        return upscaler, resolve_scale(upscaler, None, DEFAULT_SCALE)
    named = None if args.model is None else (args.model if find_model(args.model) else "")
    chained = chain_for_scale(upscaler, args.scale, model=named, device=args.device, precision=args.precision)
    if isinstance(chained, ChainedUpscaler):
        print(f"srkit: {chained.describe()}", file=sys.stderr)
        return chained, resolve_scale(chained, args.scale, DEFAULT_SCALE)
    return upscaler, resolve_scale(upscaler, args.scale, DEFAULT_SCALE)


def _naming(args: argparse.Namespace, model: str, scale: int, out_size: Any) -> Any:
    """The output naming of ``--name``/``--suffix`` (default ``{stem}_{tag}``)."""
    from srkit.infer.upscale import Naming

    template = args.name if args.name is not None else None
    if args.suffix is not None:
        template = "{stem}" + args.suffix.replace("{", "{{").replace("}", "}}")
    if out_size.width is not None or out_size.height is not None:
        factor = None
    else:
        factor = f"{out_size.outscale if out_size.outscale is not None else scale:g}"
    return Naming(out_size.tag(scale), factor, model, template or "{stem}_{tag}")


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``models`` subcommand (``srkit models``, ``--archs``, ``pull NAME``, ``info NAME``)."""
    p = sub.add_parser(
        "models",
        help="list the named and published models (--archs: the architectures); pull NAME: download one",
        description="List srkit's named models (scale, parameters, training data, Set5/Set14 PSNR, "
        "whether their weights are installed) and the catalogue of published weights (family, scale, "
        "parameters, training data, licence, published Set5/Set14 PSNR, how the download is verified, "
        "whether it is pulled). `srkit models pull NAME` downloads a published model into the cache, "
        "verifies it and converts it to srkit weights once; `--model NAME` does the same on first use. "
        "With --archs, list the registered architectures instead: presets, what the network takes "
        "(colour, input, scales, size multiple, precisions, tiling) and the checkpoint layouts srkit "
        "converts to it.",
    )
    p.add_argument("--archs", action="store_true", help="list the registered architectures")
    p.set_defaults(func=run_models_command, models_action=None)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    pull = actions.add_parser(
        "pull",
        help="download, verify and convert a published model",
        description="Download a published model (`srkit models` lists them) into the cache "
        "(<cache>/zoo/NAME/, $SRKIT_CACHE), verify its sha256 (or the hash prefix its file name "
        "carries) before it takes its final name, and convert it once to srkit weights. Afterwards "
        "it works offline. $SRKIT_ZOO_URL replaces the download host (a mirror: <url>/<path>).",
    )
    pull.add_argument("names", nargs="+", metavar="NAME", help="published model name(s)")
    pull.add_argument(
        "--allow-unverified",
        action="store_true",
        help="accept a file for which no trustworthy sha256 is known (the catalogue says 'none')",
    )
    pull.add_argument("--no-download", action="store_true", help="only use files already in the cache")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    pull.set_defaults(func=run_models_pull)
    info = actions.add_parser("info", help="everything the catalogue knows about a published model")
    info.add_argument("name", metavar="NAME", help="published model name")
    info.set_defaults(func=run_models_info)


def _psnr(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _params(count: int) -> str:
    return f"{count / 1e6:.2f}M"


def models_table() -> str:
    """The named models, then the catalogue of published weights, as plain-text tables (``*`` marks
    the default for its scale). Reads only tables and file names: no torch."""
    from srkit.models import DEFAULT_MODELS, MODELS, WEIGHTS_DIR  # import-time cost: only this command

    defaults = set(DEFAULT_MODELS.values())
    header = ("name", "scale", "params", "training data", "Set5 PSNR", "Set14 PSNR", "available")
    rows = [
        (
            card.name + (" *" if card.name in defaults else ""),
            f"x{card.scale}",
            _params(card.params),
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
        "",
        "Published weights (`srkit models pull NAME`, or --model NAME on first use):",
        "",
    ]
    lines += published_table()
    return "\n".join(lines)


def _licence(entry: PublishedModel) -> str:
    if entry.commercial_use is False:
        return f"{entry.licence} (NC)"
    return entry.licence if entry.commercial_use else f"{entry.licence} (?)"


def published_table() -> list[str]:
    """The catalogue of published weights (:mod:`srkit.catalogue`) as plain-text table lines."""
    from srkit.catalogue import PUBLISHED, zoo_dir  # import-time cost: only this command

    header = (
        "name",
        "family",
        "scale",
        "params",
        "training data",
        "licence",
        "Set5",
        "Set14",
        "verify",
        "pulled",
    )
    rows = [
        (
            entry.name,
            entry.family,
            f"x{entry.scale}",
            _params(entry.params),
            entry.training_data,
            _licence(entry),
            _psnr(entry.set5_psnr),
            _psnr(entry.set14_psnr),
            entry.verification + (" (manual)" if entry.manual else ""),
            "yes" if entry.pulled else "no",
        )
        for entry in PUBLISHED.values()
    ]
    lines = _table(header, rows)
    lines += [
        "",
        "Set5/Set14: the authors' published Y-PSNR (dB; sources and srkit's measurements: docs/models.md).",
        "licence: (NC) forbids commercial use, (?) no licence stated. verify: sha256 = full published hash, "
        "prefix = the hash prefix in the file name, none = needs --allow-unverified; (manual) = download by "
        "hand (Google Drive) and put the file in the cache (`srkit models info NAME` says where).",
        f"cache: {zoo_dir()}/<name>/",
    ]
    return lines


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
    """Handler of ``srkit models`` (and ``--archs``)."""
    print(archs_table() if args.archs else models_table())
    return 0


def run_models_pull(args: argparse.Namespace) -> int:
    """Handler of ``srkit models pull NAME...``: 0 when every model is in the cache, converted."""
    # import-time cost: the converters (torch) load only when a model is converted
    from srkit.infer.zoo import pull, resolve_published
    from srkit.io.atomic import install_signal_cleanup

    install_signal_cleanup()  # SIGTERM/SIGHUP: no hidden temporary files left behind
    entries = [resolve_published(name) for name in args.names]  # unknown names fail before any download
    for entry in entries:
        was_pulled = entry.pulled
        weights = pull(
            entry.name,
            download=not args.no_download,
            allow_unverified=args.allow_unverified,
            progress=False if args.no_progress else None,
            log=print,
        )
        print(f"{entry.name}: {'already pulled' if was_pulled else 'ready'}: {weights}")
    return 0


def run_models_info(args: argparse.Namespace) -> int:
    """Handler of ``srkit models info NAME``: every field of the catalogue entry, one per line."""
    from srkit.catalogue import source_url
    from srkit.infer.zoo import resolve_published

    entry = resolve_published(args.name)
    hparams = ", ".join(f"{k}={v}" for k, v in entry.hparams.items())
    fields = [
        ("name", entry.name),
        ("family", f"{entry.family} ({entry.build}: {hparams})"),
        ("scale", f"x{entry.scale}"),
        ("params", f"{entry.params:,}"),
        ("training data", entry.training_data),
        ("licence", entry.licence + ("" if entry.licence_notice is None else f" - {entry.licence_notice}")),
        ("Set5 / Set14", f"{_psnr(entry.set5_psnr)} / {_psnr(entry.set14_psnr)} ({entry.published})"),
        ("url", entry.url + (" (a page: download by hand)" if entry.manual else "")),
        ("download from", source_url(entry)),
        ("sha256", entry.sha256 or "-"),
        ("sha256 prefix", entry.sha256_prefix or "-"),
        ("hash source", entry.hash_source),
        ("size", "-" if entry.size is None else f"{entry.size:,} bytes"),
        ("cache file", str(entry.download_path)),
        ("srkit weights", f"{entry.weights_path} ({'pulled' if entry.pulled else 'not pulled'})"),
    ]
    if entry.note:
        fields.append(("note", entry.note))
    width = max(len(key) for key, _ in fields)
    for key, value in fields:
        print(f"{key:<{width}}  {value}")
    return 0
