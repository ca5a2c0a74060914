"""The console entry points."""

from __future__ import annotations

import subprocess
import sys

import srkit


def test_python_dash_m_srkit_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "srkit", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"srkit {srkit.__version__}"


def test_python_dash_m_srkit_error_is_one_line(tmp_path) -> None:
    missing = tmp_path / "nothing-here"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "srkit",
            "eval",
            "--model",
            "bicubic",
            "--dataset",
            str(missing),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and str(missing) in out.stderr and "Traceback" not in out.stderr


def test_cli_parser_does_not_import_torch() -> None:
    """`srkit --help` stays fast: building the parser of every subcommand imports no PyTorch."""
    code = "import sys, srkit.cli; srkit.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
