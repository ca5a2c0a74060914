"""Seams of SR3's step-synchronous tiling: an SR3 model samples one large image whole (where it fits),
with step-synchronous tiles (``SR3Runner.step_tiles``: every network call tiled, predictions blended,
one noise field) and with independently sampled tiles (the feed-forward tiler around whole samplers,
which is what srkit did before), and the tile-border discontinuity is measured against the interior.

Seam score: along each axis, the mean absolute difference between neighbouring output pixels across the
middle of every band two tiles share (where independent tiles' blending ramps cross), divided by the same
mean over all other pixel pairs. 1.0 means the borders look like the interior. A hard seam makes it
larger; two unrelated samples cross-faded in the band (independent tiles) make it smaller, because the
average of two independent textures has less contrast than either.
Also, where the whole image was sampled, the mean and max difference of each tiled output from it (8-bit
levels). Prints a table and writes JSON (default ``benchmarks/results/sr3_tiling.json``)::

    .venv/bin/python benchmarks/sr3_tiling.py --model runs/sr3_small_residual/model.safetensors \\
        --lr-size 128 --tile 48 --steps 10            # 512x512 output, whole image as the reference
    .venv/bin/python benchmarks/sr3_tiling.py --model ... --lr-size 512 --tile 128 --no-whole  # 2048x2048
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from srkit.archs.sr3 import SR3Runner
from srkit.archs.tiles import tile_spans
from srkit.colour import to_uint8
from srkit.evaluation import format_table
from srkit.infer.tiling import upscale_tiled
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image
from srkit.io.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "sr3_tiling.json"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "srkit" / "assets" / "coffee.png"


def band_centres(length: int, tile: int, overlap: int, scale: int, align: int) -> list[int]:
    """Output coordinates of the middle of every band two neighbouring tiles share."""
    spans = tile_spans(length, tile, overlap, max(1, align // scale))
    return [scale * (spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)]


def seam_score(image: np.ndarray, rows: list[int], cols: list[int]) -> float:
    """Mean |step| across the band centres over the mean |step| elsewhere (both axes, all channels)."""
    img = image.astype(np.float64)
    dx = np.abs(np.diff(img, axis=1))  # dx[:, j] is between columns j and j + 1
    dy = np.abs(np.diff(img, axis=0))
    at_x = np.zeros(dx.shape[1], bool)
    at_x[[c - 1 for c in cols if 0 < c <= dx.shape[1]]] = True
    at_y = np.zeros(dy.shape[0], bool)
    at_y[[r - 1 for r in rows if 0 < r <= dy.shape[0]]] = True
    border = np.concatenate([dx[:, at_x].ravel(), dy[at_y].ravel()])
    interior = np.concatenate([dx[:, ~at_x].ravel(), dy[~at_y].ravel()])
    return float(border.mean() / interior.mean()) if border.size else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--image", type=Path, default=SAMPLE, help="source of the LR crop (default: the sample)"
    )
    parser.add_argument("--lr-size", type=int, default=128, help="side of the LR crop (output: 4x)")
    parser.add_argument("--tile", type=int, default=48, help="tile side in LR pixels")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in LR pixels (default: 16)")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-image reference")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runner = load_upscaler(args.model, device="cpu", precision="fp32")
    assert isinstance(runner, SR3Runner), f"{args.model} is not an SR3 model"
    runner.configure(sampler=args.sampler, steps=args.steps, seed=0)
    scale = runner.info.scales[0] if runner.info.scales else 4
    overlap = runner.info.tile_overlap if args.overlap is None else args.overlap
    pixels = read_image(args.image).pixels[:3]
    top, left = (pixels.shape[-2] - args.lr_size) // 2, (pixels.shape[-1] - args.lr_size) // 2
    lr = pixels[None, :, top : top + args.lr_size, left : left + args.lr_size].clone()

    def run(label: str, fn) -> tuple[str, np.ndarray, float]:
        start = time.perf_counter()
        with torch.inference_mode():
            out = fn()
        seconds = time.perf_counter() - start
        print(f"{label}: {seconds:.1f} s")
        return label, to_uint8(out)[0].permute(1, 2, 0).numpy(), seconds

    outputs = []
    if not args.no_whole:
        runner.step_tiles(0, 0)
        outputs.append(run("whole image", lambda: runner(lr, scale)))
    runner.step_tiles(args.tile, overlap)
    outputs.append(run("step-synchronous tiles", lambda: runner(lr, scale)))
    runner.step_tiles(0, 0)
    outputs.append(run("independent tiles", lambda: upscale_tiled(
        lambda t: runner(t, scale), lr, scale, tile=args.tile, overlap=overlap, align=1)))  # fmt: skip
    size = args.lr_size
    # step tiles sit on the upsampled image (aligned to the size multiple); independent ones on the LR
    step_bands = band_centres(scale * size, scale * args.tile, scale * overlap, 1, runner.size_multiple)
    independent_bands = band_centres(size, args.tile, overlap, scale, 1)
    rows = []
    reference = outputs[0][1] if not args.no_whole else None
    for label, image, seconds in outputs:
        bands = independent_bands if label.startswith("independent") else step_bands
        row = {"method": label, "seconds": seconds, "seam_score": seam_score(image, bands, bands)}
        if reference is not None and label != "whole image":
            diff = np.abs(image.astype(int) - reference.astype(int))
            row.update(mean_diff=float(diff.mean()), max_diff=int(diff.max()))
        rows.append(row)
    title = (f"SR3 tiling seams: {args.model}, {size}x{size} -> {scale * size}x{scale * size}, tile "
             f"{args.tile} / overlap {overlap} LR px, {args.sampler} {args.steps} steps, "
             f"{torch.get_num_threads()} threads")  # fmt: skip
    print(title)
    keys = ("method", "seconds", "seam_score", "mean_diff", "max_diff")
    headers = ["method", "s", "seam score", "mean |diff| vs whole", "max |diff|"]
    print(format_table(headers, [[r.get(k, "") for k in keys] for r in rows]))
    result = {"title": title, "rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
