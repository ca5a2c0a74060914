"""``srkit export MODEL --onnx OUT.onnx [--opset N] [--fp16] [--exporter NAME] [--no-check]``.

Only :func:`add_export_parser` is imported by :mod:`srkit.cli`; PyTorch, the exporter and the ONNX
packages are imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXPORTER_CHOICES = ("dynamo", "torchscript")


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="export a network to ONNX (verified with onnxruntime)",
        description=(
            "Export the bare network of MODEL (an srkit .safetensors file or anything else --model "
            "accepts that is a network) to ONNX: input 'input' (N, C, H, W) float32 in [0, 1] as the "
            "network takes it (RGB, or Y for luminance networks), batch/height/width dynamic; srkit "
            "metadata (arch, hparams, scale) in metadata_props. Before writing, onnxruntime runs it on "
            "a random input of another size and must match PyTorch float32 within 1e-4. "
            "Needs the ONNX packages: pip install 'srkit[onnx]'."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="srkit .safetensors weights (or a named model)")
    p.add_argument("--onnx", required=True, type=Path, metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument(
        "--opset", type=int, default=None, metavar="N", help="ONNX opset (default: the exporter's)"
    )
    p.add_argument(
        "--fp16",
        action="store_true",
        help="float16 weights and arithmetic (input and output stay float32); checked within 1e-2",
    )
    p.add_argument(
        "--exporter",
        default="dynamo",
        choices=EXPORTER_CHOICES,
        help="torch.onnx exporter (default dynamo; torchscript: the legacy tracer, for opsets < 18)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    # torch and onnx: imported when the command runs, so that `srkit --help` stays fast
    from srkit.archs import Runner
    from srkit.errors import SrkitError
    from srkit.infer.export import export_onnx_report
    from srkit.infer.upscalers import load_upscaler

    upscaler = load_upscaler(args.model, device="cpu", precision="fp32")
    if not isinstance(upscaler, Runner):
        raise SrkitError(
            f"{args.model}: not a network (nothing to export); give an srkit .safetensors file or a "
            "named model"
        )
    net = upscaler.model
    report = export_onnx_report(
        net,
        args.onnx,
        opset=args.opset,
        check=not args.no_check,
        fp16=args.fp16,
        exporter=args.exporter,
    )
    meta = report.metadata
    print(
        f"wrote {report.path} ({meta['arch']} x{meta['scale']}, {meta['input_space']} input, "
        f"{meta['precision']}, opset {report.opset}, {report.exporter} exporter, "
        f"{report.nbytes / 1e6:.1f} MB)"
    )
    if report.max_abs_diff is None:
        print("not checked with onnxruntime (--no-check)")
    else:
        shape = "x".join(str(s) for s in report.check_shape or ())
        print(f"onnxruntime check on a {shape} input: max |onnx - pytorch fp32| = {report.max_abs_diff:.2e}")
    return 0
