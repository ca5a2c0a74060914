"""torch.compile for inference: srkit's default eager path vs the same runner with ``compile=True``.

For each shipped model given (default: ``edsr-baseline-x2`` and ``edsr-baseline-x4``) and each input
side, one Python process builds two runners of the same weights on the CPU in bf16 (the default path
on a CPU with native bf16): ``eager`` (``Runner(optimize=True)``: pixel-shuffle reorder, bf16 weights,
out-of-place ReLU; what ``srkit upscale`` runs) and ``compiled`` (the same plus
:func:`srkit.archs.speed.compile_for_inference`). The calls are interleaved (eager, compiled, eager,
...) so load on the machine falls on both alike, and each is timed by the process's CPU time on one
thread. Reported: the first call of each in wall-clock seconds (the compiled one compiles, partly
in worker processes), the median of ``--repeats``
calls, the speed-up, how many calls it takes for compiling to pay for itself, and the PSNR of the
compiled output against the eager one (both clamped to [0, 1], RGB)::

    .venv/bin/python benchmarks/compile_speed.py --sides 128 256 512 --repeats 7

Writes ``benchmarks/results/compile_speed.json`` (``--out``) and prints a Markdown table. The machine's
kind (AMX or not) is recorded: the gain depends on it (docs/speed.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from srkit.io.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "compile_speed.json"


def machine() -> dict[str, Any]:
    """The CPU and what it can do, as the tables label it."""
    name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cpu": name,
        "cores": os.cpu_count(),
        "amx": bool(torch.cpu._is_amx_tile_supported()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [0, 1] images (peak 1); ``inf`` when equal."""
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def timed(call: Any) -> tuple[float, torch.Tensor]:
    """One call's process CPU time in seconds and its result."""
    start = time.process_time()
    out = call()
    return time.process_time() - start, out


def timed_wall(call: Any) -> tuple[float, torch.Tensor]:
    """One call's wall-clock time in seconds (compiling also runs in worker processes) and its result."""
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def run_case(model: str, side: int, repeats: int, precision: str) -> dict[str, Any]:
    """Both runners of ``model`` on one ``side``x``side`` input (seeded), interleaved."""
    from srkit.infer.upscalers import load_upscaler

    eager = load_upscaler(model, device="cpu", precision=precision)
    compiled = load_upscaler(model, device="cpu", precision=precision, compile=True)
    scale = eager.scale
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side))
    first_e, y_e = timed_wall(lambda: eager(x, scale))
    first_c, y_c = timed_wall(lambda: compiled(x, scale))
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        times["eager"].append(timed(lambda: eager(x, scale))[0])
        times["compiled"].append(timed(lambda: compiled(x, scale))[0])
    med_e, med_c = statistics.median(times["eager"]), statistics.median(times["compiled"])
    gain = med_e - med_c
    return {
        "model": model,
        "side": side,
        "precision": eager.precision,
        "first_eager_s": first_e,
        "first_compiled_s": first_c,
        "median_eager_s": med_e,
        "median_compiled_s": med_c,
        "speedup": med_e / med_c,
        "break_even_calls": (first_c - first_e) / gain if gain > 0 else None,  # wall over CPU: approximate
        "psnr_compiled_vs_eager_db": psnr(y_c, y_e),
        "times": times,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``rows``."""
    lines = [
        "| model | side | precision | first call eager s | first call compiled s | median eager s "
        "| median compiled s | speed-up | break-even calls | PSNR compiled vs eager dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        even = "never" if r["break_even_calls"] is None else f"{r['break_even_calls']:.0f}"
        lines.append(
            f"| {r['model']} | {r['side']} | {r['precision']} | {r['first_eager_s']:.2f} "
            f"| {r['first_compiled_s']:.2f} | {r['median_eager_s']:.3f} | {r['median_compiled_s']:.3f} "
            f"| {r['speedup']:.2f}x | {even} | {r['psnr_compiled_vs_eager_db']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["edsr-baseline-x2", "edsr-baseline-x4"])
    p.add_argument("--sides", nargs="+", type=int, default=[128, 256, 512])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--precision", default="auto", help="the runners' precision (default: as srkit upscale)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for model in args.models:
        for side in args.sides:
            row = run_case(model, side, args.repeats, args.precision)
            print(f"{model} {side}: {row['speedup']:.2f}x", file=sys.stderr, flush=True)
            rows.append(row)
    print(table(rows))
    result = {
        "benchmark": "compile_speed",
        "command": " ".join(["benchmarks/compile_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "threads": 1,
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2, allow_nan=False, default=str) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
