"""The ``srkit`` command line. Every failure the user can act on prints one line and exits 2."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srkit import __version__
from srkit.cli.convert import add_convert_parser
from srkit.cli.export import add_export_parser
from srkit.cli.fetch_weights import add_fetch_weights_parser
from srkit.cli.interpolate import add_interpolate_parser
from srkit.cli.plot import add_plot_parser
from srkit.cli.report import REPORT_FILE, add_crop_arguments, add_report_parser, write_html_report
from srkit.cli.serve import add_serve_parser
from srkit.cli.study import add_study_parser
from srkit.errors import SrkitError
from srkit.infer.cli import (
    add_compile_argument,
    add_models_parser,
    add_runtime_arguments,
    add_sampling_arguments,
    add_upscale_parser,
    apply_runtime_arguments,
    apply_sampling_arguments,
)
from srkit.train.cli import add_train_parser


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a model (or an interpolation baseline) on benchmark datasets",
        description=(
            "Evaluate a model over datasets x scales x degradation groups with the conventions of "
            "published SR tables (MATLAB bicubic LR, uint8 rounding, border crop = scale, Y channel)."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        nargs="+",
        help="model names or checkpoints; baselines: bicubic, bilinear, ... Several models are measured one "
        "after another and compared in one table (OUT/comparison.md and .csv)",
    )
    p.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        metavar="NAME|DIR",
        help="benchmark name (set5, set14, b100, urban100, manga109, div2k-val, bsds500, sample) or a folder "
        "of HR images",
    )
    p.add_argument("--scale", nargs="+", type=int, default=[4], help="one or more integer scales (default 4)")
    p.add_argument(
        "--degradations",
        default="bicubic",
        metavar="LIST",
        help="comma-separated degradation groups that make the LR images, or 'all' (default bicubic)",
    )
    channel = p.add_mutually_exclusive_group()
    channel.add_argument(
        "--y-channel",
        dest="y_channel",
        action="store_true",
        default=True,
        help="measure on Y of YCbCr (default; the published convention)",
    )
    channel.add_argument("--rgb", dest="y_channel", action="store_false", help="measure on RGB")
    p.add_argument(
        "--crop-border", type=int, default=None, help="pixels shaved from each border (default: scale)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for eval.json and CSVs (default outputs/eval/MODEL); with several models, the parent of "
        "one folder per model and of the comparison (default outputs/eval)",
    )
    p.add_argument("--save-images", action="store_true", help="also write the SR images under OUT/images")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write OUT/report.html (srkit report: tables, charts, zoomed crops; implies --save-images)",
    )
    add_crop_arguments(p)
    p.add_argument(
        "--lpips",
        nargs="?",
        const="alex",
        default=None,
        choices=["alex", "vgg"],
        help="also measure LPIPS (Zhang et al. 2018) with this backbone (default alex), on RGB; needs the "
        "official weights: `srkit fetch-weights lpips-alex` puts them in the cache, an installed lpips "
        "package's are found too, or pass --lpips-weights/--lpips-backbone",
    )
    p.add_argument(
        "--lpips-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="LPIPS v0.1 linear layers (alex.pth / vgg.pth; default <cache>/lpips/v0.1/NET.pth, then an "
        "installed lpips package's)",
    )
    p.add_argument(
        "--lpips-backbone",
        type=Path,
        default=None,
        metavar="FILE",
        help="torchvision backbone (alexnet-owt-7be5be79.pth / vgg16-397923af.pth; default <cache>/weights/)",
    )
    p.add_argument(
        "--show-best",
        type=int,
        default=0,
        metavar="N",
        help="save side-by-side crops (LR, bicubic, SR, HR) of the N images per dataset/scale/group with "
        "the largest PSNR gain over bicubic under OUT/best",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where models run")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16", "fp16", "auto"],
        help="model arithmetic (default fp32, comparable with papers; auto: bf16 on CPU, fp16 on CUDA)",
    )
    p.add_argument(
        "--no-download", action="store_true", help="never download a named benchmark or published model"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_sampling_arguments(p)
    add_runtime_arguments(p)
    add_compile_argument(p)
    gen = p.add_argument_group("generative SR (sr3; docs/sr3.md)")
    gen.add_argument(
        "--samples",
        type=int,
        default=1,
        metavar="K",
        help="samples per image from iterative models, seeds SEED..SEED+K-1 (default 1)",
    )
    gen.add_argument(
        "--center-crop",
        type=int,
        default=None,
        metavar="N",
        help="score the centred NxN HR crop of each image, its LR made from the crop (SR3's protocol)",
    )
    gen.add_argument(
        "--consistency",
        action="store_true",
        help="also measure SR3's consistency, mean((downscaled SR - LR)^2), in units of 1e-5",
    )
    gen.add_argument(
        "--fid", action="store_true", help="also measure FID of the SR against the HR images (>= 2049 each)"
    )
    gen.add_argument(
        "--is",
        dest="inception_score",
        action="store_true",
        help="also measure the Inception Score (10 splits)",
    )
    gen.add_argument(
        "--inception-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="pt_inception-2015-12-05-6726825d.pth (default: the srkit cache, where `srkit fetch-weights "
        "inception-fid` puts it)",
    )
    p.set_defaults(func=_run_eval)


def _model_labels(models: Sequence[str]) -> list[str]:
    """Short distinct names for the models of one ``srkit eval``: a file's stem, or ``folder/stem`` when
    stems repeat or name a file of a run folder (``runs/a/model.safetensors``, ``runs/a/best...``)."""
    run_files = {"model", "best", "latest"}
    stems = [Path(m).stem if Path(m).suffix else m for m in models]
    return [
        f"{Path(m).parent.name}/{stem}"
        if (stems.count(stem) > 1 or stem in run_files) and Path(m).suffix and Path(m).parent.name
        else stem
        for m, stem in zip(models, stems, strict=True)
    ]


def _check_eval_args(args: argparse.Namespace) -> None:
    """One-line errors for the numeric options of ``srkit eval``."""
    if any(s < 1 for s in args.scale):
        raise SrkitError(f"--scale: scales must be positive integers, got {args.scale}")
    if args.crop_border is not None and args.crop_border < 0:
        raise SrkitError(f"--crop-border: must be >= 0, got {args.crop_border}")
    if args.show_best < 0:
        raise SrkitError(f"--show-best: must be >= 0, got {args.show_best}")
    if (args.lpips_weights or args.lpips_backbone) and not args.lpips:
        raise SrkitError("--lpips-weights/--lpips-backbone: only with --lpips")
    if args.samples < 1:
        raise SrkitError(f"--samples: must be >= 1, got {args.samples}")
    if args.report and (args.crops < 0 or args.crop_size < 1):
        raise SrkitError(f"--crops / --crop-size: must be >= 0 / >= 1, got {args.crops} / {args.crop_size}")
    if args.center_crop is not None and (
        args.center_crop < 1 or any(args.center_crop % s for s in args.scale)
    ):
        raise SrkitError(f"--center-crop: {args.center_crop} must be a positive multiple of every --scale")


def _inception(args: argparse.Namespace) -> Any:
    """The FID Inception network when ``--fid``/``--is`` ask for it (a missing weight file fails here,
    before anything is evaluated, naming the URL), else ``None``."""
    if not (args.fid or args.inception_score):
        return None
    from srkit.devices import resolve_device  # import-time cost: torch loads only when the command runs
    from srkit.metrics.inception import InceptionFeatures

    return InceptionFeatures.from_file(args.inception_weights, device=resolve_device(args.device))


def _run_eval(args: argparse.Namespace) -> int:
    # import-time cost: torch and the evaluation stack load only when the command runs
    from srkit.data import resolve_dataset
    from srkit.degrade import parse_groups
    from srkit.evaluation import comparison_table, evaluate, report_table, write_comparison, write_report
    from srkit.infer.upscalers import describe_model, load_upscaler

    _check_eval_args(args)
    apply_runtime_arguments(args)
    inception = _inception(args)
    lpips = None
    if args.lpips:  # missing weight files fail here, before anything is evaluated
        from srkit.devices import resolve_device  # import-time cost, as above
        from srkit.metrics.lpips import LPIPS

        lpips = LPIPS(
            args.lpips,
            lin_weights=args.lpips_weights or "default",
            backbone_weights=args.lpips_backbone or "default",
        ).to(resolve_device(args.device))
    groups = parse_groups(args.degradations)
    progress = not args.no_progress and sys.stderr.isatty()
    datasets = [resolve_dataset(d, download=not args.no_download, progress=progress) for d in args.dataset]
    several = len(args.model) > 1
    root = args.out if args.out is not None else Path("outputs") / "eval"
    names = _model_labels(args.model)
    # every model is loaded before anything is measured, so a bad one fails at once
    upscalers = [
        load_upscaler(
            m,
            device=args.device,
            precision=args.precision,
            download=not args.no_download,
            compile=args.compile,
        )
        for m in args.model
    ]
    apply_sampling_arguments(upscalers, args)
    records = [describe_model(m, u) for m, u in zip(args.model, upscalers, strict=True)]
    reports = []
    for index, (upscaler, label, record) in enumerate(zip(upscalers, names, records, strict=True)):
        out_dir = root / label.replace("/", "_") if several or args.out is None else root
        best = None
        if args.show_best:
            from srkit.evaluation.showcase import BestCrops  # import-time cost, as above

            best = BestCrops(args.show_best, y_channel=args.y_channel)
        report = evaluate(
            upscaler,
            datasets,
            args.scale,
            groups,
            y_channel=args.y_channel,
            crop_border=args.crop_border,
            save_dir=out_dir / "images" if args.save_images or args.report else None,
            progress=progress,
            lpips=lpips,
            on_image=best,
            echo=print if index == 0 else None,  # the same images are skipped for every model
            center_crop=args.center_crop,
            samples=args.samples,
            consistency=args.consistency,
            inception=inception,
            fid=args.fid,
            inception_score=args.inception_score,
            model_record=record,
        )
        if several:
            report.model = label
        print(report_table(report))
        paths = write_report(report, out_dir)
        print(f"\nwrote {', '.join(str(p) for p in paths)}")
        if not report.images:
            raise SrkitError(
                f"nothing was scored: all {len(report.skipped)} image/scale pairs were too small for the "
                f"scale and border crop (listed in {paths[0]})"
            )
        if best is not None:
            crops = best.write(out_dir / "best")
            print(f"wrote {len(crops)} side-by-side crops under {out_dir / 'best'}")
        reports.append(report)
    if several:
        print("\n" + comparison_table(reports))
        paths = write_comparison(reports, root)
        print(f"\nwrote {', '.join(str(p) for p in paths)}")
    if args.report:
        _eval_report(args, root, names, several)
    return 0


def _eval_report(args: argparse.Namespace, root: Path, names: Sequence[str], several: bool) -> None:
    """``srkit eval --report``: the HTML report of the folders this evaluation wrote (one per model, as
    :func:`_run_eval` names them; not other folders under OUT), at OUT/report.html."""
    folders = [root / n.replace("/", "_") for n in names] if several or args.out is None else [root]
    target = (root if several else folders[0]) / REPORT_FILE
    write_html_report(folders, target, args.crops, args.crop_size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srkit", description="Single-image super-resolution toolkit.")
    parser.add_argument("--version", action="version", version=f"srkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_eval(sub)
    add_train_parser(sub)
    add_upscale_parser(sub)
    add_models_parser(sub)
    add_convert_parser(sub)
    add_export_parser(sub)
    add_interpolate_parser(sub)
    add_study_parser(sub)
    add_fetch_weights_parser(sub)
    add_report_parser(sub)
    add_plot_parser(sub)
    add_serve_parser(sub)
    return parser


#: Exit status when the reader of stdout went away (``srkit ... | head -1``), as a shell reports a
#: process ended by SIGPIPE.
BROKEN_PIPE_STATUS = 141


def _printing_cannot_fail() -> None:
    """Characters the console's encoding lacks (a file name with an undecodable byte, held as a
    surrogate escape, under ``PYTHONIOENCODING=utf-8``) print as ``\\uXXXX`` instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            with contextlib.suppress(ValueError, OSError):  # not a stream we can reconfigure
                reconfigure(errors="backslashreplace")


def _stdout_gone() -> int:
    """stdout's reader closed it: send what is still buffered, and anything printed later, to the null
    device (no second BrokenPipeError at exit) and end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):  # stdout is not a file descriptor (captured)
        pass
    return BROKEN_PIPE_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A closed stdout ends the command quietly between two outputs (every output is
    written atomically, so none is lost or half-written) with status 141."""
    _printing_cannot_fail()
    try:
        args = build_parser().parse_args(argv)
        status = args.func(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _stdout_gone()
    except SrkitError as err:
        print(f"srkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
