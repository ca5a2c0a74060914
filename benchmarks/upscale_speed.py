"""Upscale speed on the CPU: fp32 eager PyTorch vs srkit's default path, with peak memory and quality.

For each case (EDSR-baseline x2 and x4, RRDBNet with 23 blocks x4, and every shipped model of
:mod:`srkit.models` whose weights are installed) on a 256x256 RGB input:

- ``fp32 eager``: ``net(x)`` in float32, NCHW, under ``torch.inference_mode()``;
- ``default``: :class:`srkit.archs.Runner` with ``device='auto'`` and
  ``precision='auto'`` (on a CPU with native bfloat16: bf16 autocast + channels-last), called the
  way ``srkit upscale``/``srkit eval`` call it (padding, clamping and float32 output included).

Each (case, path) runs in its own Python process, one after another, so the peak-memory figure (peak
RSS minus the RSS before the first call: ``tracemalloc`` does not see PyTorch's allocations) is not
blurred by memory an earlier run left with the allocator. In each process: ``--warmup`` calls (the
first one's time is reported as ``first call``), then ``--repeats`` timed calls; the table shows the
median. Speed is output megapixels per second.

Quality, two measures:

- ``PSNR vs fp32``: the default path's output against fp32 eager's on the timed input (RGB, float,
  both clamped to [0, 1]); with random weights this is the criterion (target > 40 dB);
- ``dPSNR vs HR``: PSNR(default, HR) - PSNR(fp32, HR), Y channel, 8-bit, border = scale, on the
  bundled sample photograph (a centre crop as HR, MATLAB-bicubic LR); the criterion for trained
  (shipped) models (target within 0.1 dB). Random-weight networks get it too, for information.

The networks without shipped weights are randomly initialised (seeded); speed does not depend on the
weights, but bf16-vs-fp32 differences of random networks need not match trained ones.

Run alone on a quiet machine (the load average before and after is recorded)::

    .venv/bin/python benchmarks/upscale_speed.py

Writes ``benchmarks/results/upscale_speed.json`` (``--out``) and prints a Markdown table.

``--variants`` instead compares ways of running one network on one thread, timed by the thread's CPU
time (so other load on the machine hardly matters): NCHW vs channels-last, bf16 autocast vs bf16
weights, ``torch.jit`` trace+freeze, ``torch.compile``; it writes
``benchmarks/results/upscale_speed_variants.json``::

    .venv/bin/python benchmarks/upscale_speed.py --variants --side 128 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srkit.io.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "upscale_speed.json"

#: Built-in cases: name -> (registry preset, scale). Random weights, seeded.
RANDOM_CASES: dict[str, tuple[str, int]] = {
    "edsr-baseline-x2": ("edsr-baseline", 2),
    "edsr-baseline-x4": ("edsr-baseline", 4),
    "rrdbnet-23-x4": ("rrdbnet", 4),
}
SHIPPED_PREFIX = "shipped:"
MODES = ("fp32", "default")
MODE_LABELS = {"fp32": "fp32 eager", "default": "srkit default"}

TARGET_SPEEDUP = 4.0
TARGET_PSNR_VS_FP32 = 40.0
TARGET_DPSNR_VS_HR = 0.1
SEED = 0


# --------------------------------------------------------------------------------------------------
# Inputs and networks
# --------------------------------------------------------------------------------------------------


def _sample() -> torch.Tensor:
    """The bundled sample photograph as ``(1, 3, H, W)`` float32 in [0, 1]."""
    from PIL import Image

    from srkit.settings import sample_image_path

    with Image.open(sample_image_path()) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def timing_input(side: int) -> torch.Tensor:
    """A ``side`` x ``side`` crop of the sample photograph (tiled by reflection if it is larger)."""
    img = _sample()
    h, w = img.shape[-2:]
    if side > min(h, w):
        img = torch.nn.functional.pad(img, (0, max(0, side - w), 0, max(0, side - h)), mode="reflect")
        h, w = img.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return img[..., top : top + side, left : left + side].contiguous()


def quality_pair(scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(LR, HR)``: the largest centre square of the sample photograph whose side is a multiple of
    ``scale`` as HR, and its MATLAB-bicubic downscale as LR (float, as the eval pipeline does)."""
    from srkit.degrade import resize

    img = _sample()
    h, w = img.shape[-2:]
    side = (min(h, w) // scale) * scale
    top, left = (h - side) // 2, (w - side) // 2
    hr = img[..., top : top + side, left : left + side].contiguous()
    lr = resize(hr, 1.0 / scale, kernel="bicubic").clamp(0, 1)
    return lr, hr


def build_case(case: str) -> tuple[nn.Module, bool]:
    """``(network in eval mode on the CPU, trained?)`` for a case name."""
    if case.startswith(SHIPPED_PREFIX):
        from srkit.infer.upscalers import load_upscaler

        up = load_upscaler(case[len(SHIPPED_PREFIX) :], device="cpu", precision="fp32")
        return up.model.eval(), True
    from srkit.archs import build_model

    preset, scale = RANDOM_CASES[case]
    torch.manual_seed(SEED)
    return build_model(preset, scale=scale).eval(), False


def shipped_cases() -> tuple[list[str], str | None]:
    """Installed shipped models as case names, and why there are none (``None`` if there are)."""
    try:
        from srkit.models import MODELS
    except ImportError as exc:
        return [], f"srkit.models is not available ({exc})"
    names = [name for name, card in MODELS.items() if card.available]
    if not names:
        return [], f"no shipped weights installed ({len(MODELS)} models listed, none available)"
    return [SHIPPED_PREFIX + name for name in names], None


# --------------------------------------------------------------------------------------------------
# One (case, mode) in its own process
# --------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS, so that setup (imports,
    building the network) does not count; best effort (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_bytes() -> int:
    """``VmHWM`` (peak RSS since the last reset), else the process's lifetime ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def count_conv_flops(net: nn.Module, run: Any, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Run ``run(x)`` once with hooks on every convolution of ``net``; return ``(output, FLOPs)`` of the
    convolutions (2 per multiply-add)."""
    flops = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal flops
        if isinstance(module, nn.ConvTranspose2d):  # every input pixel scatters the whole kernel
            flops += (
                2 * module.weight.numel() * inputs[0].shape[0] * inputs[0].shape[-2] * inputs[0].shape[-1]
            )
        else:
            flops += 2 * module.weight.numel() * output.shape[0] * output.shape[-2] * output.shape[-1]

    handles = [
        m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    try:
        y = run(x)
    finally:
        for h in handles:
            h.remove()
    return y, flops


def gemm_gflops(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best-of-``repeats`` matrix-multiply throughput (GFLOP/s) in float32 and bfloat16 with the
    default thread count, the two alternating so that a disturbance hits both: the hardware's
    bf16/fp32 ratio, a rough upper bound for what bf16 arithmetic can gain."""
    gen = torch.Generator().manual_seed(SEED)
    pairs = {"fp32": torch.float32, "bf16": torch.bfloat16}
    mats = {
        name: [torch.rand(n, n, generator=gen).to(dtype) for _ in range(2)] for name, dtype in pairs.items()
    }
    best = dict.fromkeys(pairs, math.inf)
    for _ in range(repeats + 1):  # the first round warms up
        for name, (a, b) in mats.items():
            t0 = time.perf_counter()
            a @ b
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: 2 * n**3 / t / 1e9 for name, t in best.items()}


def run_worker(case: str, mode: str, side: int, warmup: int, repeats: int, out_dir: Path) -> dict[str, Any]:
    """Time one path on one network; save its outputs for the parent's PSNR; return the numbers."""
    from srkit.archs import Runner

    net, trained = build_case(case)
    scale = net.info.scale
    x = timing_input(side)
    lr_q, _ = quality_pair(scale)
    if mode == "fp32":
        net = net.float()

        def run(t: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return net(t)

        precision = "fp32"
    else:
        up = Runner(net, name=case, device="auto", precision="auto")
        precision = f"{up.precision}{' channels_last' if up.channels_last else ''} ({up.device.type})"

        def run(t: torch.Tensor) -> torch.Tensor:
            return up(t, scale)

    _reset_peak_rss()
    rss_before = _rss_bytes()
    t0 = time.perf_counter()
    y, flops = count_conv_flops(net, run, x)
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        y = run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        y = run(x)
        times.append(time.perf_counter() - t0)
    peak = _peak_rss_bytes() - rss_before
    y_q = run(lr_q)
    np.save(out_dir / f"timing-{mode}.npy", y.detach().float().clamp(0, 1).numpy())
    np.save(out_dir / f"quality-{mode}.npy", y_q.detach().float().clamp(0, 1).numpy())
    median = statistics.median(times)
    out_mp = y.shape[-2] * y.shape[-1] / 1e6
    return {
        "case": case,
        "mode": mode,
        "precision": precision,
        "trained": trained,
        "arch": getattr(net, "arch_name", type(net).__name__),
        "params": sum(p.numel() for p in net.parameters()),
        "scale": scale,
        "input": list(x.shape),
        "output": list(y.shape),
        "first_call_s": first,
        "times_s": times,
        "median_s": median,
        "output_mp_per_s": out_mp / median,
        "conv_gflop": flops / 1e9,
        "conv_gflop_per_s": flops / 1e9 / median,
        "peak_rss_delta_mb": max(0, peak) / 2**20,
        "threads": torch.get_num_threads(),
    }


def _spawn(case: str, mode: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    spec = {
        "case": case,
        "mode": mode,
        "side": args.side,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "out_dir": str(out_dir),
    }
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{case}/{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# --variants: what else could make the default path faster (one thread, CPU time)
# --------------------------------------------------------------------------------------------------

VARIANTS: tuple[str, ...] = (
    "fp32 NCHW (eager)",
    "fp32 channels_last",
    "bf16 autocast NCHW",
    "bf16 autocast channels_last (srkit default)",
    "bf16 weights channels_last (no autocast)",
    "bf16 autocast channels_last + jit.trace/freeze",
    "bf16 autocast channels_last + torch.compile",
)


def _variant(name: str, net: nn.Module, x: torch.Tensor) -> Any:
    """A no-argument callable running ``net`` on ``x`` the way variant ``name`` does."""
    import copy

    cl = torch.channels_last
    bf16 = torch.bfloat16
    if name == "fp32 NCHW (eager)":
        return lambda: net(x)
    if name == "bf16 autocast NCHW":

        def run_nchw() -> torch.Tensor:
            with torch.autocast("cpu", dtype=bf16):
                return net(x)

        return run_nchw
    n2 = copy.deepcopy(net).to(memory_format=cl)
    xc = x.contiguous(memory_format=cl)
    if name == "fp32 channels_last":
        return lambda: n2(xc)
    if name == "bf16 weights channels_last (no autocast)":
        n2 = n2.to(dtype=bf16)
        xb = xc.to(bf16)
        return lambda: n2(xb)
    if name.endswith("jit.trace/freeze"):
        with torch.no_grad(), torch.autocast("cpu", dtype=bf16):
            n2 = torch.jit.freeze(torch.jit.trace(n2, xc, check_trace=False))
    elif name.endswith("torch.compile"):
        n2 = torch.compile(n2)

    def run_autocast() -> torch.Tensor:
        with torch.autocast("cpu", dtype=bf16):
            return n2(xc)

    return run_autocast


def run_variants(case: str, side: int, repeats: int) -> list[dict[str, Any]]:
    """Every variant of :data:`VARIANTS` on one network, single-threaded, timed by the thread's CPU
    time (robust against other load on the machine); speed-up and PSNR against fp32 NCHW."""
    import warnings

    torch.set_num_threads(1)
    net, _ = build_case(case)
    x = timing_input(side)
    rows: list[dict[str, Any]] = []
    ref = None
    for name in VARIANTS:
        print(f"  {name} ...", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_wall, t_cpu = time.perf_counter(), time.thread_time()
            run = _variant(name, net, x)
            with torch.inference_mode():
                y = run()
                first_wall, first_cpu = time.perf_counter() - t_wall, time.thread_time() - t_cpu
                times = []
                for _ in range(repeats):
                    t0 = time.thread_time()
                    y = run()
                    times.append(time.thread_time() - t0)
        y = y.float().clamp(0, 1).numpy()
        ref = y if ref is None else ref
        rows.append(
            {
                "variant": name,
                "first_call_wall_s": first_wall,
                "first_call_cpu_s": first_cpu,
                "best_cpu_s": min(times),
                "psnr_vs_fp32_db": psnr_float(y, ref),
            }
        )
    for r in rows:
        r["speedup"] = rows[0]["best_cpu_s"] / r["best_cpu_s"]
    return rows


def variants_table(rows: list[dict[str, Any]]) -> str:
    head = "| variant (1 thread) | first call s (wall) | best CPU s | speed-up | PSNR vs fp32 dB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        psnr_text = "-" if math.isinf(r["psnr_vs_fp32_db"]) else f"{r['psnr_vs_fp32_db']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['first_call_wall_s']:.2f} | {r['best_cpu_s']:.3f} | "
            f"{r['speedup']:.2f}x | {psnr_text} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Quality
# --------------------------------------------------------------------------------------------------


def psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two float images in [0, 1] (all channels, no rounding)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def psnr_vs_hr(sr: np.ndarray, hr: torch.Tensor, scale: int) -> float:
    """Y-channel 8-bit PSNR, border = scale, as ``srkit eval`` reports it."""
    from srkit.metrics import psnr

    def hwc(t: np.ndarray) -> np.ndarray:
        return np.transpose(t[0], (1, 2, 0)) * 255.0

    return psnr(hwc(sr), hwc(hr.numpy()), crop_border=scale, y_channel=True)


# --------------------------------------------------------------------------------------------------
# Machine, table, JSON
# --------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model, core count, PyTorch build facts that decide the default path."""
    from srkit.devices import cpu_has_fast_bf16

    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "fast_bf16": cpu_has_fast_bf16(),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| model | path | precision | first call s | median s | output MP/s | speed-up | "
        "conv GFLOP/s | peak RSS +MB | PSNR vs fp32 dB | dPSNR vs HR dB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        is_default = r["mode"] == "default"
        cells = [
            r["case"],
            MODE_LABELS[r["mode"]],
            r["precision"],
            f"{r['first_call_s']:.2f}",
            f"{r['median_s']:.3f}",
            f"{r['output_mp_per_s']:.3f}",
            f"{r['speedup']:.2f}x" if is_default else "1.00x",
            f"{r['conv_gflop_per_s']:.0f}",
            f"{r['peak_rss_delta_mb']:.0f}",
            f"{r['psnr_vs_fp32_db']:.2f}" if is_default else "-",
            f"{r['dpsnr_vs_hr_db']:+.3f}" if is_default else f"({r['psnr_vs_hr_db']:.2f})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=256, help="input height and width (default 256)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per path (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument(
        "--cases",
        default=None,
        help=f"comma-separated subset of {', '.join(RANDOM_CASES)} and shipped:NAME (default: all)",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"JSON results file (default {DEFAULT_OUT})")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="instead: compare ways of running one network (--cases, default edsr-baseline-x4) on one "
        "thread by CPU time: layouts, autocast vs bf16 weights, jit.freeze, torch.compile",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        spec = json.loads(args.worker)
        if spec["mode"] == "gemm":
            print(json.dumps(gemm_gflops()))
            return 0
        result = run_worker(
            spec["case"], spec["mode"], spec["side"], spec["warmup"], spec["repeats"], Path(spec["out_dir"])
        )
        print(json.dumps(result))
        return 0

    if args.variants:
        case = (args.cases or "edsr-baseline-x4").split(",")[0]
        started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        load_before = os.getloadavg()
        rows_v = run_variants(case, args.side, args.repeats)
        print()
        print(f"{case}, {args.side}x{args.side} input, 1 thread, best of {args.repeats} by thread CPU time")
        print(variants_table(rows_v))
        out = args.out or DEFAULT_OUT.with_name("upscale_speed_variants.json")
        report_v = {
            "benchmark": "upscale_speed --variants",
            "date_utc": started.isoformat(),
            "command": " ".join(["python", "benchmarks/upscale_speed.py", *(argv or sys.argv[1:])]),
            "machine": machine(),
            "case": case,
            "settings": {
                "side": args.side,
                "repeats": args.repeats,
                "threads": 1,
                "timer": "thread CPU time",
            },
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "rows": rows_v,
        }
        atomic_write_text(out, json.dumps(report_v, indent=2) + "\n")
        print(f"wrote {out}")
        return 0

    shipped, why_none = shipped_cases()
    cases = args.cases.split(",") if args.cases else [*RANDOM_CASES, *shipped]
    if why_none and not args.cases:
        print(f"shipped models skipped: {why_none}")
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    print("  matrix-multiply throughput (fp32 vs bf16) ...", flush=True)
    gemm = _spawn("gemm", "gemm", args, Path(tempfile.gettempdir()))
    rows: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="srkit-speed-") as tmp:
            results = {}
            for mode in MODES:
                out_dir = Path(tmp) / mode
                out_dir.mkdir()
                print(f"  {case}: {MODE_LABELS[mode]} ...", flush=True)
                results[mode] = _spawn(case, mode, args, out_dir)
                results[mode]["_dir"] = out_dir
            fp32, default = results["fp32"], results["default"]
            scale = fp32["scale"]
            _, hr = quality_pair(scale)
            for r in (fp32, default):
                r["psnr_vs_hr_db"] = psnr_vs_hr(np.load(r["_dir"] / f"quality-{r['mode']}.npy"), hr, scale)
            default["speedup"] = fp32["median_s"] / default["median_s"]
            default["psnr_vs_fp32_db"] = psnr_float(
                np.load(default["_dir"] / "timing-default.npy"), np.load(fp32["_dir"] / "timing-fp32.npy")
            )
            default["dpsnr_vs_hr_db"] = default["psnr_vs_hr_db"] - fp32["psnr_vs_hr_db"]
            for r in (fp32, default):
                del r["_dir"]
                rows.append(r)
            criterion = (
                f"|dPSNR vs HR| <= {TARGET_DPSNR_VS_HR} dB"
                if default["trained"]
                else f"PSNR vs fp32 > {TARGET_PSNR_VS_FP32} dB (random weights)"
            )
            quality_ok = (
                abs(default["dpsnr_vs_hr_db"]) <= TARGET_DPSNR_VS_HR
                if default["trained"]
                else default["psnr_vs_fp32_db"] > TARGET_PSNR_VS_FP32
            )
            verdicts.append(
                {
                    "case": case,
                    "speedup": default["speedup"],
                    "speedup_ok": default["speedup"] >= TARGET_SPEEDUP,
                    "quality_criterion": criterion,
                    "quality_ok": quality_ok,
                }
            )
    load_after = os.getloadavg()

    print()
    print(table(rows))
    print()
    for v in verdicts:
        print(
            f"{v['case']}: speed-up {v['speedup']:.2f}x (target >= {TARGET_SPEEDUP}x: "
            f"{'met' if v['speedup_ok'] else 'MISSED'}); quality {v['quality_criterion']}: "
            f"{'met' if v['quality_ok'] else 'MISSED'}"
        )
    print(
        f"matrix multiply 2048^3: fp32 {gemm['fp32']:.0f} GFLOP/s, bf16 {gemm['bf16']:.0f} GFLOP/s "
        f"(x{gemm['bf16'] / gemm['fp32']:.2f}: the most bf16 arithmetic can gain here)"
    )
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    report = {
        "benchmark": "upscale_speed",
        "date_utc": started.isoformat(),
        "command": " ".join(["python", "benchmarks/upscale_speed.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "settings": {"side": args.side, "repeats": args.repeats, "warmup": args.warmup, "seed": SEED},
        "load_average_before": load_before,
        "load_average_after": load_after,
        "shipped_models": why_none or "included",
        "targets": {
            "speedup_min": TARGET_SPEEDUP,
            "psnr_vs_fp32_min_db_random_weights": TARGET_PSNR_VS_FP32,
            "dpsnr_vs_hr_max_db_trained": TARGET_DPSNR_VS_HR,
        },
        "gemm_gflop_per_s": gemm,
        "rows": rows,
        "verdicts": verdicts,
    }
    out = args.out or DEFAULT_OUT
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
