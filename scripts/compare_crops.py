"""Side-by-side crops of two models on one image, where the second gains most over the first.

The HR image is degraded as ``srkit eval`` does (``--degradation``, MATLAB kernels, uint8 LR), both
models upscale it (fp32, the runner), and the ``--crop`` x ``--crop`` window (aligned to the scale)
where model B's squared error is lowest relative to model A's is shown as bicubic | A | B | HR, each
labelled with its PSNR on the crop (Y, 8-bit), made with :func:`srkit.evaluation.showcase.side_by_side`
and :func:`~srkit.evaluation.showcase.best_window`::

    .venv/bin/python scripts/compare_crops.py --hr ../shared/data/Set14/comic.png --scale 4 \\
        --models runs/study/davit_small_l1_mixed/model.safetensors \\
                 runs/study/davit_small_edge_mixed/model.safetensors \\
        --labels "plain L1" "edge L1" --out docs/images/edge_l1_crops.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from srkit.archs import InterpolationUpscaler
from srkit.colour import to_uint8
from srkit.degrade import mod_crop, parse_groups
from srkit.evaluation.showcase import best_window, improvement_map, side_by_side
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image, write_image
from srkit.metrics import psnr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hr", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--degradation", default="bicubic")
    parser.add_argument("--models", nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument("--labels", nargs=2, metavar=("A", "B"))
    parser.add_argument("--crop", type=int, default=96, help="crop side in HR pixels")
    parser.add_argument("--zoom", type=int, default=2, help="pixel repetition of the crops")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    (group,) = parse_groups(args.degradation)
    hr = mod_crop(to_uint8(read_image(args.hr).pixels[:3]).unsqueeze(0), args.scale)
    with torch.inference_mode():
        lr = group.degrade(hr, args.scale).float() / 255
        outs = [InterpolationUpscaler("bicubic")(lr, args.scale)]
        for model in args.models:
            outs.append(load_upscaler(model, device="cpu", precision="fp32")(lr, args.scale))
    hwc = [to_uint8(o)[0].permute(1, 2, 0).numpy() for o in outs]
    hr_np = hr[0].permute(1, 2, 0).numpy()
    gain = improvement_map(hwc[2], hwc[1], hr_np, border=args.scale)
    top, left, h, w = best_window(gain, args.crop, step=args.scale)
    labels = ["bicubic", *(args.labels or [Path(m).parent.name for m in args.models]), "HR"]
    panels, texts = [], []
    for image, label in zip([*hwc, hr_np], labels, strict=True):
        crop = image[top : top + h, left : left + w]
        value = psnr(crop, hr_np[top : top + h, left : left + w], y_channel=True)
        panels.append(np.repeat(np.repeat(crop, args.zoom, axis=0), args.zoom, axis=1))
        texts.append(label if label == "HR" else f"{label} {value:.2f} dB")
    write_image(args.out, side_by_side(panels, texts))
    whole = [psnr(x, hr_np, crop_border=args.scale, y_channel=True) for x in hwc]
    print(
        f"{args.hr.name} x{args.scale} {args.degradation}: crop at ({top}, {left}) {h}x{w}; whole-image PSNR "
        + ", ".join(f"{lab} {v:.2f}" for lab, v in zip(labels, whole, strict=False))
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
