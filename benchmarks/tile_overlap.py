"""How far tiled window transformers are from the whole-image result, by tile and overlap.

A 512x512 centre crop of the sample photo, x2, upscaled whole and in tiles
(:func:`srkit.infer.tiling.upscale_tiled`, starts aligned to the window) by random-weight SwinIR and
HAT networks (the tests' ``_randomise``: every weight ``N(0, 1 / fan_in)``), one thread. Prints the
largest and mean absolute difference in 8-bit levels and writes JSON (default
``benchmarks/results/tile_overlap.json``); ``docs/transformers.md`` has the table and the defaults
chosen from it (``NetInfo.tile_overlap``)::

    .venv/bin/python benchmarks/tile_overlap.py          # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from srkit.archs.runner import make_runner  # noqa: E402
from srkit.evaluation import format_table  # noqa: E402
from srkit.infer.tiling import upscale_tiled  # noqa: E402
from srkit.io import read_image  # noqa: E402
from srkit.io.atomic import atomic_write_text  # noqa: E402
from srkit.settings import sample_image_path  # noqa: E402
from test_hat import _net as hat_net  # noqa: E402  (the tests' weight randomisation)
from test_swinir import _net as swinir_net  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tile_overlap.json"

CASES: list[tuple[str, Any, dict[str, Any], list[tuple[int, int]]]] = [
    (
        "SwinIR embed 12, 2x2 blocks, window 8",
        swinir_net,
        {"embed_dim": 12, "depths": [2, 2], "num_heads": [2, 2], "window_size": 8,
         "upsampler": "pixelshuffledirect"},
        [(128, 16), (128, 24), (128, 40), (192, 48)],
    ),
    (
        "SwinIR embed 24, 4x6 blocks, window 8",
        swinir_net,
        {"embed_dim": 24, "depths": [6, 6, 6, 6], "num_heads": [4, 4, 4, 4], "window_size": 8,
         "upsampler": "pixelshuffledirect"},
        [(128, 16), (128, 40), (192, 48)],
    ),
    (
        "HAT embed 24, 2x2 blocks, window 16",
        hat_net,
        {"embed_dim": 24, "depths": [2, 2], "num_heads": [4, 4], "window_size": 16, "compress_ratio": 3,
         "squeeze_factor": 6},
        [(192, 32), (192, 48), (256, 64)],
    ),
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    img = read_image(sample_image_path()).pixels[:3]
    top, left = (img.shape[1] - args.side) // 2, (img.shape[2] - args.side) // 2
    x = img[None, :, top : top + args.side, left : left + args.side].contiguous()
    rows = []
    for name, build, hparams, settings in CASES:
        runner = make_runner(build(**hparams, scale=2), device="cpu", precision="fp32")
        whole = runner(x, 2)
        for tile, overlap in settings:
            tiled = upscale_tiled(
                lambda t, r=runner: r(t, 2), x, 2, tile=tile, overlap=overlap, align=runner.size_multiple
            )
            diff = (tiled - whole).abs() * 255
            row = {
                "network": name,
                "tile": tile,
                "overlap": overlap,
                "default_overlap": runner.info.tile_overlap,
                "max_levels": float(diff.max()),
                "mean_levels": float(diff.mean()),
            }
            rows.append(row)
            print(f"  {name} {tile}/{overlap}: max {row['max_levels']:.2f}", flush=True)
    print(
        format_table(
            ["network", "tile", "overlap", "max levels", "mean levels"],
            [[r["network"], r["tile"], r["overlap"], r["max_levels"], r["mean_levels"]] for r in rows],
        )
    )
    atomic_write_text(args.out, json.dumps({"side": args.side, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
