"""``srkit serve [--host 127.0.0.1] [--port 8000]``: a local web page to upscale images (docs/serve.md).

Importing this module is cheap: Starlette, uvicorn and PyTorch are imported when the command runs, and
their absence is one line naming the extra to install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srkit.errors import SrkitError
from srkit.infer.cli import add_runtime_arguments, apply_runtime_arguments

#: What ``srkit serve`` says when Starlette or uvicorn is missing.
MISSING_DEPENDENCIES = "srkit serve needs Starlette and uvicorn: pip install 'srkit[serve]'"


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit serve`` on the ``srkit`` sub-command parser ``sub``."""
    from srkit.serve.config import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT  # no dependencies

    p = sub.add_parser(
        "serve",
        help="a local web page: drop images, pick models, compare before/after, download",
        description=(
            "Serve a page on this machine to upscale images: drag and drop (or choose) images, pick one "
            "or more models (side by side), the scale, tile and precision, see the tiles being done, "
            "compare input and output with a before/after slider and synchronised zoom, and download "
            "the results (the file rules of srkit upscale: format, bit depth, alpha and ICC profile "
            "kept). Uploads and results live in a temporary folder removed when the server stops. "
            "Needs the extra srkit[serve] (Starlette, uvicorn)."
        ),
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; a non-loopback one needs --allow-remote)",
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: a free one)"
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host: anyone who reaches it can upload and run models (no login)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="MB",
        help=f"largest upload in MiB; larger ones are refused (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the models run")
    p.add_argument(
        "--model",
        dest="model_files",
        action="extend",
        nargs="+",
        type=Path,
        default=[],
        metavar="FILE",
        help="weight files to offer on the page besides the named models (by file stem)",
    )
    add_runtime_arguments(p)
    p.set_defaults(func=run_serve_command)


def _require_dependencies() -> None:
    """One line naming the extra when Starlette or uvicorn cannot be imported."""
    try:
        import starlette  # noqa: F401  (only whether it imports)
        import uvicorn  # noqa: F401
    except ImportError:
        raise SrkitError(MISSING_DEPENDENCIES) from None


def run_serve_command(args: argparse.Namespace) -> int:
    """Handler of ``srkit serve``: serves until Ctrl+C (or SIGTERM), then removes its temporary folder."""
    from srkit.serve.config import ServeConfig, check_host

    _require_dependencies()
    config = ServeConfig(
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        allow_remote=args.allow_remote,
        device=args.device,
        model_files=tuple(args.model_files),
    )
    warning = check_host(args.host, args.allow_remote)
    if warning:
        print(f"srkit: warning: {warning}", file=sys.stderr)
    apply_runtime_arguments(args)
    from srkit.serve.server import serve  # import-time cost: Starlette, uvicorn and PyTorch

    serve(config)
    return 0
