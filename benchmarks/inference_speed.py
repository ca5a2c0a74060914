"""Before/after ratios of issue 11's inference speed items, measured in one run on this machine.

1. **Runner rewrites** (:mod:`srkit.archs.speed`: pixel-shuffle channel reorder, bf16 weights stored
   once, out-of-place ReLU): :class:`srkit.archs.Runner` with ``optimize=False`` (before) and
   ``optimize=True`` (after), bf16 + channels-last and fp32 + channels-last, on one thread, the calls
   of before and after alternating and timed by CPU time, so that other load hardly matters. The
   outputs are compared too (the rewrites must not change a bit).
2. **Eval scoring in a thread** (``evaluate(overlap_metrics=...)``): ``srkit eval``'s loop on Set5
   (or the sample) with the shipped default model, serial vs overlapped, wall time, alternating.
3. **Tile sizes** (:func:`srkit.infer.tiling.tile_spans`): pixels the network computes per input
   pixel with fixed tiles (before) and with the smallest tile that keeps the count (after); arithmetic.

Prints tables and writes JSON (default ``benchmarks/results/inference_speed.json``)::

    .venv/bin/python benchmarks/inference_speed.py
    .venv/bin/python benchmarks/inference_speed.py --side 128 --repeats 5 --skip-eval
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.archs import build_model, load_network
from srkit.archs.runner import make_runner
from srkit.degrade import parse_groups
from srkit.devices import cpu_has_fast_bf16
from srkit.errors import SrkitError
from srkit.evaluation import evaluate, format_table
from srkit.infer.tiling import tile_spans
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image
from srkit.io.atomic import atomic_write_text
from srkit.models import find_model
from srkit.settings import sample_image_path, shared_dir

RESULTS = Path(__file__).resolve().parent / "results" / "inference_speed.json"


def _network(case: str) -> nn.Module:
    """A shipped model by name when its weights are installed, else the preset with random weights."""
    entry = find_model(case)
    if entry is not None:
        try:
            return load_network(case)
        except SrkitError:  # weights not installed: random ones run just as fast
            pass
    preset, scale = case.rsplit("-x", 1)
    torch.manual_seed(0)
    return build_model(preset, scale=int(scale))


def runner_rewrites(cases: list[str], side: int, repeats: int) -> list[dict[str, Any]]:
    """Median CPU seconds per call of the runner without and with the rewrites (see the docstring)."""
    image = read_image(sample_image_path()).pixels[:3]
    h, w = image.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    x = image[None, :, top : top + side, left : left + side].contiguous()
    rows = []
    for case, precision in itertools.product(cases, ("bf16", "fp32")):
        runners = {
            optimize: make_runner(
                _network(case), device="cpu", precision=precision, channels_last=True, optimize=optimize
            )
            for optimize in (False, True)
        }
        scale = runners[False].scale
        times: dict[bool, list[float]] = {False: [], True: []}
        outputs = {}
        for i in range(repeats + 1):
            for optimize, runner in runners.items():
                start = time.process_time()
                outputs[optimize] = runner(x, scale)
                if i:  # the first round warms up
                    times[optimize].append(time.process_time() - start)
        before, after = statistics.median(times[False]), statistics.median(times[True])
        rows.append(
            {
                "case": case,
                "precision": f"{precision} channels_last",
                "before_cpu_s": before,
                "after_cpu_s": after,
                "speedup": before / after,
                "identical": bool(torch.equal(outputs[False], outputs[True])),
                "rewrites": runners[True].rewrites,
            }
        )
        print(f"  {case} {precision}: {before:.3f} -> {after:.3f} CPU s", flush=True)
    return rows


def eval_overlap(repeats: int) -> dict[str, Any]:
    """Wall seconds of ``evaluate`` (shipped default x2 model, x2, bicubic) serial vs overlapped, with
    the current number of torch threads."""
    from srkit.data import resolve_dataset

    set5 = shared_dir() / "data" / "Set5"
    dataset = resolve_dataset(str(set5) if set5.is_dir() else "sample")
    upscaler = load_upscaler("edsr-baseline-x2", device="cpu", precision="fp32")
    groups = parse_groups("bicubic")
    times: dict[bool, list[float]] = {False: [], True: []}
    reports = {}

    def run(overlap: bool) -> Callable[[], Any]:
        return lambda: evaluate(upscaler, [dataset], [2], groups, progress=False, overlap_metrics=overlap)

    for i in range(repeats + 1):
        for overlap in (False, True):
            start = time.perf_counter()
            reports[overlap] = run(overlap)().to_dict()
            if i:
                times[overlap].append(time.perf_counter() - start)
    before, after = statistics.median(times[False]), statistics.median(times[True])
    return {
        "dataset": dataset.name,
        "images": len(dataset.files),
        "threads": torch.get_num_threads(),
        "serial_s": before,
        "overlapped_s": after,
        "speedup": before / after,
        "same_report": reports[False] == reports[True],
    }


def tile_ratios() -> list[dict[str, Any]]:
    """Computed pixels per input pixel, fixed tiles vs the smallest tile that keeps the count."""
    rows = []
    overlap = 16
    for (h, w), tile in itertools.product([(3000, 4000), (1080, 1920), (768, 1024), (600, 800)], (384, 512)):

        def fixed(length: int, tile: int = tile) -> int:
            n = 1 if length <= tile else math.ceil((length - overlap) / (tile - overlap))
            return n * min(tile, length)

        def shrunk(length: int, tile: int = tile) -> int:
            return sum(b - a for a, b in tile_spans(length, tile, overlap))

        rows.append(
            {
                "image": f"{w}x{h}",
                "tile": tile,
                "tiles": len(tile_spans(h, tile, overlap)) * len(tile_spans(w, tile, overlap)),
                "before": fixed(h) * fixed(w) / (h * w),
                "after": shrunk(h) * shrunk(w) / (h * w),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["edsr-baseline-x2", "edsr-baseline-x4"])
    parser.add_argument("--side", type=int, default=128, help="input side for the runner calls")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eval-repeats", type=int, default=2)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--skip-rewrites", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rewrites = []
    if not args.skip_rewrites:
        print(f"runner rewrites, one thread, {args.side}x{args.side} input, median of {args.repeats}:")
        rewrites = runner_rewrites(args.cases, args.side, args.repeats)
    torch.set_num_threads(threads)
    print(
        format_table(
            ["case", "precision", "before CPU s", "after CPU s", "speed-up", "identical"],
            [
                [r["case"], r["precision"], r["before_cpu_s"], r["after_cpu_s"], r["speedup"], r["identical"]]
                for r in rewrites
            ],
        )
    )
    overlap = []
    if not args.skip_eval:
        # all cores for torch (no core left for the scoring thread), then one core left free
        for n in sorted({threads, max(1, (os.cpu_count() or 1) - 1)}, reverse=True):
            torch.set_num_threads(n)
            overlap.append(eval_overlap(args.eval_repeats))
        torch.set_num_threads(threads)
        print(
            f"\neval scoring, {overlap[0]['dataset']} x2 ({overlap[0]['images']} images), "
            f"{os.cpu_count()} cores:"
        )
        print(
            format_table(
                ["torch threads", "serial s", "overlapped s", "speed-up", "same report"],
                [
                    [o["threads"], o["serial_s"], o["overlapped_s"], o["speedup"], o["same_report"]]
                    for o in overlap
                ],
            )
        )
    tiles = tile_ratios()
    print("\ncomputed pixels per input pixel, overlap 16:")
    print(
        format_table(
            ["image", "tile", "tiles", "fixed tiles", "smallest tiles"],
            [[r["image"], r["tile"], r["tiles"], r["before"], r["after"]] for r in tiles],
        )
    )
    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "fast_bf16": cpu_has_fast_bf16(),
            "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        },
        "torch": torch.__version__,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runner_rewrites": rewrites,
        "eval_overlap": overlap,
        "tiles": tiles,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
