"""Output megapixels per second of the efficient-SR families on this CPU, on their authors' files.

For every family's file in ``$SRKIT_SHARED/weights`` (research-only, read in place): the model loaded as
``srkit upscale`` loads it (:func:`srkit.infer.upscalers.load_upscaler`, runner rewrites on), once in
fp32 and once in srkit's default precision (``auto``: bf16 autocast + channels-last where the CPU has
native bf16, else fp32), each on a 256x256 input (a crop of the bundled sample). The two paths are timed
alternately by CPU time on one thread, so that other load on the machine hardly matters; the median of
``--repeats`` is reported. Each path is also measured on Set5 (Y-PSNR, ``srkit eval``'s conventions),
so the table shows what the default path costs in dB (the target: within 0.01 dB of fp32).

The default path runs each network's fp32 islands (its ``fp32_modules``, :mod:`srkit.archs.speed`) in
float32; ``--without-islands`` adds a third path, the default precision with no islands (the network's
``fp32_modules`` emptied before the runner is built), so the table shows what the islands cost and gain.

Prints a table and writes JSON (default ``benchmarks/results/efficient_speed.json``)::

    .venv/bin/python benchmarks/efficient_speed.py
    .venv/bin/python benchmarks/efficient_speed.py --repeats 5 --only span rlfn
    .venv/bin/python benchmarks/efficient_speed.py --without-islands --only span lapsrn
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from srkit.archs import load_network, make_runner
from srkit.data import resolve_dataset
from srkit.degrade import get_group
from srkit.devices import cpu_has_fast_bf16
from srkit.evaluation import evaluate, format_table
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image
from srkit.io.atomic import atomic_write_text
from srkit.settings import sample_image_path, shared_dir

RESULTS = Path(__file__).resolve().parent / "results" / "efficient_speed.json"
#: family -> (file under weights/, scale)
FILES = {
    "srvgg_compact": ("realesr-animevideov3/realesr-animevideov3.pth", 4),
    "span": ("span/ntire24_span_ch28_slim.pth", 4),
    "rlfn": ("rlfn/rlfn_x4.pth", 4),
    "imdn": ("imdn/IMDN_x4.pth", 4),
    "rfdn": ("rfdn/RFDN_AIM.pth", 4),
    "pan": ("pan/PANx4_DF2K.pth", 4),
    "carn_m": ("carn_m/carn_m.pth", 4),
    "bsrn": ("bsrn/net_g_BSRN_x4.pth", 4),
    "lapsrn": ("lapsrn/lapsrn_state_dict.pth", 4),
}


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(path: Path, rel: str, scale: int, x: torch.Tensor, set5, args: argparse.Namespace) -> dict:
    """One family's row: MP/s of each path (fp32, default, and with ``--without-islands`` the default
    precision without fp32 islands) and, unless ``--no-psnr``, its Set5 PSNR."""
    paths = {p: load_upscaler(path, device="cpu", precision=p) for p in ("fp32", "auto")}
    islands = paths["auto"].fp32_modules
    if args.without_islands and islands:
        net = load_network(path)
        net.fp32_modules = ()
        paths["plain"] = make_runner(net, device="cpu", precision="auto", optimize=True)
    times: dict[str, list[float]] = {p: [] for p in paths}
    with torch.inference_mode():
        for up in paths.values():
            up(x, scale)  # warm-up
        for _ in range(args.repeats):
            for name, up in paths.items():
                times[name].append(cpu_seconds(lambda up=up, s=scale: up(x, s)))
    mpix = (scale * x.shape[-1]) * (scale * x.shape[-2]) / 1e6
    row = {"file": rel, "scale": scale, "default_precision": paths["auto"].precision,
           "fp32_modules": list(islands)}  # fmt: skip
    for name in paths:
        row[f"{name}_mp_s"] = mpix / statistics.median(times[name])
    if not args.no_psnr:
        for name, up in paths.items():
            report = evaluate(up, [set5], [scale], [get_group("bicubic")], progress=False)
            row[f"{name}_set5"] = report.groups()[0].psnr
    return row


def gap(row: dict, name: str) -> str:
    """Path ``name``'s Set5 PSNR minus fp32's (the target: within 0.01 dB)."""
    key = f"{name}_set5"
    return f"{row[key] - row['fp32_set5']:+.4f}" if key in row else ""


def table(rows: list[dict], without_islands: bool) -> str:
    headers = ["family", "default", "fp32 MP/s", "default MP/s", "speed-up", "Set5 fp32", "Set5 default"]
    headers.append("dB")
    cells = [[r["family"], r["default_precision"], r["fp32_mp_s"], r["auto_mp_s"],
              r["auto_mp_s"] / r["fp32_mp_s"], r.get("fp32_set5", ""), r.get("auto_set5", ""),
              gap(r, "auto")] for r in rows]  # fmt: skip
    if without_islands:
        headers += ["no-islands MP/s", "dB no islands"]
        for r, out in zip(rows, cells, strict=True):
            out += [r.get("plain_mp_s", ""), gap(r, "plain")]
    return format_table(headers, cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--no-psnr", action="store_true")
    parser.add_argument(
        "--without-islands", action="store_true", help="also the default precision without fp32 islands"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights = shared_dir() / "weights"
    set5 = resolve_dataset(shared_dir() / "data" / "Set5", download=False)
    sample = read_image(sample_image_path()).pixels[:3]
    x = sample[None, :, : args.side, : args.side].contiguous()
    rows = []
    for family, (rel, scale) in FILES.items():
        if args.only and family not in args.only:
            continue
        path = weights / rel
        if not path.is_file():
            print(f"skip {family}: {path} is absent")
            continue
        rows.append({"family": family, **measure(path, rel, scale, x, set5, args)})
        print(rows[-1])
    machine = {"cpu": platform.processor() or platform.machine(), "threads": 1,
               "fast_bf16": cpu_has_fast_bf16(), "amx": bool(torch.cpu._is_amx_tile_supported()),
               "torch": torch.__version__}  # fmt: skip
    print(f"{args.side}x{args.side} input, output MP per CPU second, {machine}")
    print(table(rows, args.without_islands))
    atomic_write_text(
        args.out, json.dumps({"machine": machine, "side": args.side, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
