"""Peak memory of upscaling a large photograph on the CPU: 4000x3000 -> x4 (16000x12000) with tiling.

Target: peak resident memory (RSS) under 3 GB for the whole ``srkit upscale`` path (read the file,
upscale in tiles, encode the PNG). The 16000x12000x3 result alone would take 2.3 GB as float32; srkit
assembles it tile row by tile row in a uint8 buffer (576 MB) and encodes from that.

The network is EDSR-baseline x4 with random weights (the speed and memory of a trained one are the
same), bf16 autocast by default. The upscale runs in a fresh child process so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``, a high-water mark, read after each phase) covers nothing but
the upscale; the weights and the input image are made by another child, and this process imports
no PyTorch (Linux carries the high-water mark across ``exec``, so the parent must stay small).
Prints a table and writes JSON (default ``benchmarks/results/upscale_memory.json``).

    .venv/bin/python benchmarks/upscale_memory.py                      # the target (minutes on 2 cores)
    .venv/bin/python benchmarks/upscale_memory.py --width 400 --height 300 --out /tmp/quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_GB = 3.0
RESULTS = Path(__file__).resolve().parent / "results" / "upscale_memory.json"


def _peak_gb() -> float:
    """Peak RSS of this process so far, in GB (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9


def _make_input(path: Path, width: int, height: int) -> None:
    """A photo-like test image: smooth colour fields plus fine texture and hard edges, as 8-bit PNG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for c in range(3):
        field = 0.5 + 0.25 * np.sin(xx / (97 + 31 * c)) * np.cos(yy / (71 + 17 * c))
        field += 0.15 * ((xx // 211 + yy // 157 + c) % 2)  # hard edges
        field += rng.normal(0.0, 0.03, size=field.shape).astype(np.float32)  # texture
        rgb[..., c] = np.clip(field * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path, compress_level=1)


def _prepare(args: argparse.Namespace) -> None:
    """Run in a child process: the random-weight network and the input image."""
    import torch

    from srkit.archs import build_model, save_weights

    torch.manual_seed(0)
    save_weights(args.weights, build_model("edsr-baseline", scale=args.scale))
    _make_input(Path(args.input), args.width, args.height)


def _child(args: argparse.Namespace) -> None:
    """Run in a fresh process: load, read, upscale, write; report peak RSS after each phase."""
    phases: list[dict[str, float | str]] = []
    start = time.perf_counter()

    def mark(name: str) -> None:
        phases.append(
            {"phase": name, "seconds": round(time.perf_counter() - start, 2), "peak_gb": _peak_gb()}
        )

    mark("start")
    import torch

    from srkit.infer.upscale import TileSize, upscale_image, write_pixels
    from srkit.infer.upscalers import load_upscaler
    from srkit.io import read_image

    upscaler = load_upscaler(args.weights, device="cpu", precision=args.precision)
    tiles = TileSize(None if args.tile == "auto" else int(args.tile), args.overlap)
    tile = tiles.resolve(upscaler, args.scale)
    mark("model loaded")
    image = read_image(args.input)
    mark("image read")
    data = upscale_image(upscaler, image, args.scale, tiles=tiles, progress=sys.stderr.isatty())
    mark("upscaled")
    write_pixels(Path(args.output), data, image.info, scale=args.scale)
    del data
    mark("written")
    print(
        json.dumps(
            {
                "phases": phases,
                "tile": tile,
                "precision": upscaler.precision,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "output_bytes": os.path.getsize(args.output),
            }
        )
    )


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4])
    p.add_argument("--tile", default="auto", help="tile side in input pixels, or 'auto' (default)")
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> int:
    args = _parse()
    if args.child:
        _child(args)
        return 0
    if args.prepare:
        _prepare(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="srkit-bench-") as tmp:
        work = Path(tmp)
        weights, src, dst = work / "edsr_x4.safetensors", work / "input.png", work / "output.png"
        common = [f"--weights={weights}", f"--input={src}", f"--scale={args.scale}"]
        size = [f"--width={args.width}", f"--height={args.height}"]
        subprocess.run([sys.executable, __file__, "--prepare", *common, *size], check=True)
        command = [
            sys.executable,
            __file__,
            "--child",
            *common,
            f"--output={dst}",
            f"--tile={args.tile}",
            f"--overlap={args.overlap}",
            f"--precision={args.precision}",
        ]
        wall = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        wall = time.perf_counter() - wall
    child = json.loads(done.stdout.strip().splitlines()[-1])
    peak = max(p["peak_gb"] for p in child["phases"])
    result = {
        "benchmark": "upscale_memory",
        "input": f"{args.width}x{args.height} RGB 8-bit PNG",
        "output": f"{args.width * args.scale}x{args.height * args.scale} RGB 8-bit PNG",
        "model": f"EDSR-baseline x{args.scale} (random weights)",
        "scale": args.scale,
        "tile": child["tile"],
        "overlap": args.overlap,
        "precision": child["precision"],
        "torch_threads": child["threads"],
        "cpu_count": os.cpu_count(),
        "torch": child["torch"],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "phases": child["phases"],
        "peak_rss_gb": round(peak, 3),
        "wall_seconds": round(wall, 1),
        "target_gb": TARGET_GB,
        "meets_target": peak < TARGET_GB,
        "command": " ".join(["python", "benchmarks/upscale_memory.py", *sys.argv[1:]]),
    }
    print(
        f"{result['model']}, {result['input']} -> {result['output']}, tile {result['tile']}, "
        f"overlap {args.overlap}, {result['precision']}, {result['torch_threads']} threads"
    )
    print(f"{'phase':<14} {'time (s)':>9} {'peak RSS (GB)':>14}")
    for phase in child["phases"]:
        print(f"{phase['phase']:<14} {phase['seconds']:>9.1f} {phase['peak_gb']:>14.3f}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"peak RSS {peak:.3f} GB ({verdict} the {TARGET_GB:.0f} GB target); wall {wall:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
