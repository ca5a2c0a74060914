"""PNG encoding cost of srkit's outputs by zlib compression level (Pillow's ``compress_level``).

An upscaled photograph (the bundled sample, or ``--image``, enlarged by MATLAB bicubic to about
``--megapixels`` output megapixels: the smooth content SR outputs have) is written as an 8-bit PNG with
each level in turn, the levels interleaved over ``--repeats`` rounds so that load changes hit them
alike. Reports median CPU seconds per output megapixel and the file size relative to level 6 (Pillow's
default). Prints a table and writes JSON (default ``benchmarks/results/png_level.json``).

    .venv/bin/python benchmarks/png_level.py
    .venv/bin/python benchmarks/png_level.py --megapixels 48 --repeats 3   # a 4000x3000 x4 output
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from srkit.degrade import resize
from srkit.evaluation import format_table
from srkit.io import image_to_uint8, read_image
from srkit.io.atomic import atomic_write_text
from srkit.io.images.encode import PNG_COMPRESS_LEVEL

RESULTS = Path(__file__).resolve().parent / "results" / "png_level.json"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "srkit" / "assets" / "coffee.png"


def test_image(path: Path, megapixels: float) -> np.ndarray:
    """``(H, W, 3)`` uint8: ``path`` enlarged by bicubic to about ``megapixels`` megapixels."""
    image = read_image(path)
    h, w = image.pixels.shape[-2:]
    factor = max(1.0, math.sqrt(megapixels * 1e6 / (h * w)))
    big = resize(image.pixels[None, :3], factor, kernel="bicubic")[0].clamp(0, 1)
    return image_to_uint8(big)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=SAMPLE)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2, 3, 4, 6, 9])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    data = test_image(args.image, args.megapixels)
    mp = data.shape[0] * data.shape[1] / 1e6
    im = PILImage.fromarray(data)
    cpu: dict[int, list[float]] = {level: [] for level in args.levels}
    size: dict[int, int] = {}
    for _ in range(args.repeats):
        for level in args.levels:
            buf = io.BytesIO()
            start = time.process_time()
            im.save(buf, format="PNG", compress_level=level)
            cpu[level].append(time.process_time() - start)
            size[level] = buf.tell()
    base_cpu = statistics.median(cpu[6]) if 6 in cpu else None
    base_size = size.get(6)
    rows = []
    for level in args.levels:
        per_mp = statistics.median(cpu[level]) / mp
        rows.append(
            [
                f"{level}{' (srkit)' * (level == PNG_COMPRESS_LEVEL)}{' (Pillow)' * (level == 6)}",
                per_mp,
                base_cpu / (per_mp * mp) if base_cpu else "-",
                size[level] / 1e6,
                size[level] / base_size if base_size else "-",
            ]
        )
    print(
        f"{args.image.name} enlarged to {data.shape[1]}x{data.shape[0]} ({mp:.1f} MP), "
        f"median of {args.repeats}"
    )
    print(format_table(["level", "CPU s / MP", "speed vs 6", "MB", "size vs 6"], rows))
    result = {
        "machine": {"processor": platform.processor() or platform.machine()},
        "image": str(args.image),
        "size": [data.shape[1], data.shape[0]],
        "cpu_s_per_mp": {str(k): statistics.median(v) / mp for k, v in cpu.items()},
        "bytes": {str(k): v for k, v in size.items()},
        "srkit_level": PNG_COMPRESS_LEVEL,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
