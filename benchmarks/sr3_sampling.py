"""SR3 sampling speed on this machine: seconds per 256x256 output at 10, 20, 50 and 100 steps for each
sampler (``sr3``, ``ddim``, ``dpmpp_2m``), in fp32 and bf16 (+ channels-last), through the runner that
``srkit upscale`` uses (:class:`srkit.archs.sr3.SR3Runner`: bicubic upsampling, sampler, network).

Measured directly for the CPU preset ``sr3-small`` (random weights: speed does not depend on them), up to
``--measure-up-to`` steps; larger step counts are then derived from the line through the two largest
measured ones (marked ``derived``). A network call dominates a step, so for the big presets (``--big``,
e.g. ``sr3-seed-64to256``, 110M parameters) the script measures one whole 10-step sample per precision
and derives the other step counts as ``overhead + steps * per-call`` (marked ``derived`` in the table);
``torch.compile`` of the U-Net is measured once per precision for ``sr3-small`` (``--compile``), as the
ratio of a network call after compilation to one without.

Precisions alternate within each repeat (fp32, bf16, fp32, ...), so a machine whose load changes affects
both alike; the median of ``--repeats`` is reported. Prints a table and writes JSON (default
``benchmarks/results/sr3_sampling.json``).

    .venv/bin/python benchmarks/sr3_sampling.py                       # sr3-small, every sampler
    .venv/bin/python benchmarks/sr3_sampling.py --big sr3-seed-64to256 --compile
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from srkit.archs import build_model, make_runner
from srkit.archs.sr3 import SR3Runner
from srkit.devices import cpu_has_fast_bf16
from srkit.evaluation import format_table
from srkit.io.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "sr3_sampling.json"
STEPS = (10, 20, 50, 100)
SAMPLERS = ("sr3", "ddim", "dpmpp_2m")
PRECISIONS = ("fp32", "bf16")


def _runner(preset: str, precision: str) -> SR3Runner:
    torch.manual_seed(0)
    net = build_model(preset, scale=4, sample_betas=None)
    runner = make_runner(net, device="cpu", precision=precision)
    assert isinstance(runner, SR3Runner)
    return runner


def _time(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_small(
    preset: str, out: int, repeats: int, steps: tuple[int, ...], up_to: int | None = None
) -> list[dict]:
    """Every sampler x step count x precision (interleaved precisions): measured up to ``up_to`` steps,
    above it derived from the line through the two largest measured counts (a step is one network call;
    the rows say ``derived``)."""
    lr = torch.rand(1, 3, out // 4, out // 4, generator=torch.Generator().manual_seed(0))
    runners = {p: _runner(preset, p) for p in PRECISIONS}
    rows = []
    measured_steps = [n for n in steps if up_to is None or n <= up_to]
    for runner in runners.values():  # warm-up, once per runner
        runner.configure(steps=2)(lr, 4)
    for sampler in SAMPLERS:
        for n in measured_steps:
            for runner in runners.values():
                runner.configure(sampler=sampler, steps=n)
            times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
            for _ in range(repeats):
                for p in PRECISIONS:
                    start = time.perf_counter()
                    runners[p](lr, 4)
                    times[p].append(time.perf_counter() - start)
            for p in PRECISIONS:
                rows.append({"preset": preset, "sampler": sampler, "steps": n, "precision": p,
                             "seconds": statistics.median(times[p]), "how": "measured"})  # fmt: skip
        for p in PRECISIONS:
            got = {r["steps"]: r["seconds"] for r in rows if r["sampler"] == sampler and r["precision"] == p}
            if len(got) < 2:
                continue
            (n1, t1), (n2, t2) = sorted(got.items())[-2:]
            per_step = (t2 - t1) / (n2 - n1)
            for n in steps:
                if n not in got:
                    rows.append({"preset": preset, "sampler": sampler, "steps": n, "precision": p,
                                 "seconds": t2 + (n - n2) * per_step, "how": "derived"})  # fmt: skip
    return rows


def measure_big(preset: str, out: int, repeats: int, steps: tuple[int, ...]) -> list[dict]:
    """One 10-step ``sr3`` sample per precision and the network call alone; other step counts derived."""
    lr = torch.rand(1, 3, out // 4, out // 4, generator=torch.Generator().manual_seed(0))
    rows = []
    for p in PRECISIONS:
        runner = _runner(preset, p).configure(steps=10)
        whole = _time(lambda runner=runner: runner(lr, 4), repeats)
        net = runner.net
        x = torch.rand(1, 6, out, out)
        if runner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        level = torch.full((1,), 0.5)

        def call(net=net, x=x, level=level, runner=runner) -> None:
            with torch.inference_mode(), runner.autocast():
                net(x, level)

        per_call = _time(call, repeats)
        overhead = max(0.0, whole - 10 * per_call)
        for n in steps:
            rows.append({"preset": preset, "sampler": "any", "steps": n, "precision": p,
                         "seconds": whole if n == 10 else overhead + n * per_call,
                         "how": "measured" if n == 10 else "derived", "per_call": per_call})  # fmt: skip
    return rows


def measure_compile(preset: str, out: int, repeats: int) -> list[dict]:
    """A network call with and without ``torch.compile``, per precision (first call: compile time)."""
    rows = []
    for p in PRECISIONS:
        runner = _runner(preset, p)
        x = torch.rand(1, 6, out, out)
        if runner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        level = torch.full((1,), 0.5)
        eager = runner.net
        compiled = torch.compile(eager)

        def call(net, x=x, level=level, runner=runner) -> None:
            with torch.inference_mode(), runner.autocast():
                net(x, level)

        start = time.perf_counter()
        call(compiled)
        compile_s = time.perf_counter() - start
        t_eager = _time(lambda eager=eager: call(eager), repeats)
        t_compiled = _time(lambda compiled=compiled: call(compiled), repeats)
        rows.append({"preset": preset, "precision": p, "eager_call": t_eager, "compiled_call": t_compiled,
                     "speedup": t_eager / t_compiled, "first_call_s": compile_s})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sr3-small")
    parser.add_argument("--big", default=None, help="a big preset to time (10 steps, others derived)")
    parser.add_argument("--size", type=int, default=256, help="output side (default 256)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the U-Net")
    parser.add_argument("--measure-up-to", type=int, default=None, help="derive larger step counts")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = tuple(args.steps)
    rows = measure_small(args.preset, args.size, args.repeats, steps, args.measure_up_to)
    if args.big:
        rows += measure_big(args.big, args.size, max(1, args.repeats - 1), steps)
    compiled = measure_compile(args.preset, args.size, args.repeats) if args.compile else []
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "fast_bf16": cpu_has_fast_bf16(),
        "amx": bool(torch.cpu._is_amx_tile_supported()),
        "torch": torch.__version__,
    }
    table = format_table(
        ["preset", "sampler", "steps", "precision", f"s / {args.size}x{args.size}", "how"],
        [[r["preset"], r["sampler"], r["steps"], r["precision"], r["seconds"], r["how"]] for r in rows],
    )
    print(f"SR3 sampling, {args.size}x{args.size} output, {machine}\n{table}")
    if compiled:
        headers = ["preset", "precision", "eager call s", "compiled call s", "speedup", "first call s"]
        keys = ("preset", "precision", "eager_call", "compiled_call", "speedup", "first_call_s")
        print(format_table(headers, [[c[k] for k in keys] for c in compiled]))
    result = {"machine": machine, "size": args.size, "rows": rows, "compile": compiled}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
