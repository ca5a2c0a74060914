"""Speed of srkit's MATLAB-exact bicubic (``--model bicubic`` in ``srkit eval``) against Pillow's bicubic.

Two cases on the uint8 path (MATLAB ``imresize`` of a uint8 image: float64 passes, each rounded half
away from zero), the ones ``srkit eval`` runs for every image: the x4 upscale of a 256x256 RGB LR to a
1024x1024 (1 MP) output (:class:`srkit.archs.InterpolationUpscaler`) and the x4 downscale of a 1024x1024
HR (the bicubic degradation group). The images are a 1024x1024 crop of the bundled sample photograph
(reflected where it is smaller) and its MATLAB-bicubic x1/4. Three ways, timed alternately within each
repeat on one thread so that a change in the machine's load hits them alike:

- ``loop``: the algorithm ``srkit.degrade.resize`` used before issue 15 (kept below): every 1-D pass a
  loop over the kernel taps over the whole image in float64, then rounding by ``trunc``/``sign``;
- ``srkit``: :func:`srkit.degrade.resize` (cached contributions, blocked gather, uint8 intermediates);
- ``Pillow``: ``Image.resize(..., Image.BICUBIC)`` on the same image, the yardstick (its results differ from
  MATLAB's: it renormalises the weights at the borders instead of mirroring, resizes the width first and
  works in fixed point).

Reported: median CPU seconds and wall seconds per call, output megapixels per CPU second and the speed
ratios between the three within the run; ``loop`` and ``srkit`` outputs are compared byte for byte.
Prints a table and writes JSON (default ``benchmarks/results/resize_speed.json``)::

    .venv/bin/python benchmarks/resize_speed.py                  # about 30 s on 2 cores
    .venv/bin/python benchmarks/resize_speed.py --quick --out /tmp/resize_speed.json   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from srkit.degrade import contributions, resize, round_half_away
from srkit.degrade.resize import _resolve_scales, resize_dim_order
from srkit.evaluation import format_table
from srkit.io.atomic import atomic_write_text
from srkit.settings import sample_image_path

RESULTS = Path(__file__).resolve().parent / "results" / "resize_speed.json"
METHODS = ("loop", "srkit", "Pillow")


# --------------------------------------------------------------------------------------------------
# The tap loop srkit used before (the baseline)
# --------------------------------------------------------------------------------------------------


def _loop_pass(x: torch.Tensor, dim: int, indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The old 1-D pass: ``index_select`` plus a multiply-add per tap over the whole image."""
    if dim == x.dim() - 1:
        y = _loop_pass(x.transpose(-1, -2).contiguous(), dim - 1, indices, weights)
        return y.transpose(-1, -2).contiguous()
    shape = [1] * x.dim()
    shape[dim] = weights.shape[0]
    w = weights.to(dtype=x.dtype)
    out = x.index_select(dim, indices[:, 0]).mul_(w[:, 0].reshape(shape))
    for k in range(1, indices.shape[1]):
        out.add_(x.index_select(dim, indices[:, k]).mul_(w[:, k].reshape(shape)))
    return out


def loop_resize(x: torch.Tensor, scale: float, kernel: str = "bicubic") -> torch.Tensor:
    """The old ``resize`` on a uint8 ``(C, H, W)`` image: contributions computed every call, every pass
    in float64 over the whole image, rounded with :func:`round_half_away` and clamped."""
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    scales, out_hw = _resolve_scales(in_hw, scale, None)
    y = x.to(torch.float64)
    for axis in resize_dim_order(scales):
        indices, weights = contributions(in_hw[axis], out_hw[axis], scales[axis], kernel)
        y = _loop_pass(y, x.dim() - 2 + axis, indices, weights)
        y = torch.clamp(round_half_away(y), 0.0, 255.0)
    return y.to(torch.uint8)


# --------------------------------------------------------------------------------------------------
# Inputs, timing, machine
# --------------------------------------------------------------------------------------------------


def images(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(HR, LR)`` uint8 ``(3, H, W)``: a ``side`` x ``side`` centre crop of the sample photograph
    (reflected where the photograph is smaller) and its MATLAB-bicubic x1/4."""
    with PILImage.open(sample_image_path()) as im:
        arr = np.asarray(im.convert("RGB"))
    h, w = arr.shape[:2]
    if side > min(h, w):
        arr = np.pad(arr, ((0, max(0, side - h)), (0, max(0, side - w)), (0, 0)), mode="reflect")
        h, w = arr.shape[:2]
    top, left = (h - side) // 2, (w - side) // 2
    crop = arr[top : top + side, left : left + side]
    hr = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).contiguous()
    return hr, resize(hr, 0.25)


def methods(x: torch.Tensor, scale: float) -> dict[str, Callable[[], Any]]:
    """The three ways to resize ``x`` by ``scale``, as callables."""
    pil = PILImage.fromarray(np.ascontiguousarray(x.permute(1, 2, 0).numpy()))
    size = (round(x.shape[-1] * scale), round(x.shape[-2] * scale))
    return {
        "loop": lambda: loop_resize(x, scale),
        "srkit": lambda: resize(x, scale, kernel="bicubic"),
        "Pillow": lambda: pil.resize(size, PILImage.Resampling.BICUBIC),
    }


def time_alternately(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median CPU and wall seconds per call of each function, the functions alternating in each repeat
    (after one untimed warm-up call each)."""
    for fn in fns.values():
        fn()
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return {
        name: {"cpu_s": statistics.median(cpu[name]), "wall_s": statistics.median(wall[name])} for name in fns
    }


def machine() -> dict[str, Any]:
    """CPU model (``lscpu``), AMX, PyTorch build and threads."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name:")), model
        )
    except OSError:
        pass
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "pillow": PILImage.__version__,
        "torch_threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def run_case(name: str, x: torch.Tensor, scale: float, repeats: int) -> dict[str, Any]:
    """Time one case and check that ``srkit`` and ``loop`` agree byte for byte."""
    fns = methods(x, scale)
    fast, loop = fns["srkit"](), fns["loop"]()
    pil = torch.from_numpy(np.array(fns["Pillow"]())).permute(2, 0, 1)
    times = time_alternately(fns, repeats)
    out_mp = fast.shape[-1] * fast.shape[-2] / 1e6
    return {
        "case": name,
        "input": list(x.shape),
        "output": list(fast.shape),
        "output_mp": out_mp,
        "times": times,
        "mp_per_cpu_s": {m: out_mp / t["cpu_s"] for m, t in times.items()},
        "srkit_identical_to_loop": bool(torch.equal(fast, loop)),
        "max_abs_diff_vs_pillow": int((fast.int() - pil.int()).abs().max()),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the cases."""
    head = ["case", "method", "CPU ms", "wall ms", "output MP/CPU s", "vs loop", "vs Pillow", "= loop"]
    body = []
    for r in rows:
        t = r["times"]
        for m in METHODS:
            body.append(
                [
                    r["case"],
                    m,
                    round(t[m]["cpu_s"] * 1e3, 2),
                    round(t[m]["wall_s"] * 1e3, 2),
                    round(r["mp_per_cpu_s"][m], 1),
                    f"{t['loop']['cpu_s'] / t[m]['cpu_s']:.2f}x",
                    f"{t['Pillow']['cpu_s'] / t[m]['cpu_s']:.2f}x",
                    {"loop": "-", "srkit": "yes" if r["srkit_identical_to_loop"] else "NO", "Pillow": "-"}[m],
                ]
            )
    return format_table(head, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024, help="HR side (LR side: side / 4)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (Pillow uses one)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 256x256 HR, 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.side, args.repeats = 256, 2
    torch.set_num_threads(args.threads)
    hr, lr = images(args.side)
    load_before = os.getloadavg()
    rows = [
        run_case(f"x4 up {lr.shape[-1]}->{hr.shape[-1]}", lr, 4.0, args.repeats),
        run_case(f"x4 down {hr.shape[-1]}->{lr.shape[-1]}", hr, 0.25, args.repeats),
    ]
    info = machine()
    info["load_average_before_after"] = [load_before[0], os.getloadavg()[0]]
    print(f"MATLAB bicubic (uint8), median of {args.repeats}, {info}")
    print(table(rows))
    result = {"machine": info, "side": args.side, "repeats": args.repeats, "rows": rows}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["srkit_identical_to_loop"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
