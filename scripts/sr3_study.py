"""The SR3 CPU run of ``docs/sr3.md``: trained SR3 models against bicubic and a regression model, at
several step counts per sampler, and a picture grid.

Every model is evaluated with :func:`srkit.evaluation.evaluate` (the code of ``srkit eval``) on centred
HR crops (``--center-crop``, SR3's protocol; the LR made from the crop), Y-PSNR / SSIM with the scale
shaved, and SR3's consistency; each SR3 model at every ``--steps`` count with every ``--samplers``
entry. Prints one Markdown table and writes it with the numbers as JSON (``--out``). ``--grid`` writes
LR (nearest), bicubic, the regression model, SR3 samples with ``--seeds`` and HR of one crop of one
image, side by side::

    .venv/bin/python scripts/sr3_study.py \\
        --sr3 runs/sr3_small_plain/model.safetensors runs/sr3_small_residual/model.safetensors \\
        --labels "SR3 (image)" "SR3 (residual)" --baselines bicubic edsr-baseline-x4 \\
        --datasets ../shared/data/Set5 ../shared/data/Set14 --out docs/results/sr3_cpu_run.json \\
        --grid ../shared/data/Set14/comic.png --grid-out docs/images/sr3_grid.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from srkit.archs.sr3 import SR3Runner
from srkit.colour import to_uint8
from srkit.data import resolve_dataset
from srkit.degrade import get_group, mod_crop
from srkit.evaluation import evaluate
from srkit.evaluation.showcase import side_by_side
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image, write_image
from srkit.io.atomic import atomic_write_text
from srkit.metrics import psnr
from srkit.metrics.fid import CONSISTENCY_UNIT


def _rows(upscaler, label: str, setting: str, datasets, args) -> list[dict]:
    start = time.perf_counter()
    report = evaluate(upscaler, datasets, [args.scale], [get_group("bicubic")], progress=False,
                      center_crop=args.center_crop, consistency=True)  # fmt: skip
    seconds = time.perf_counter() - start
    return [
        {
            "model": label,
            "setting": setting,
            "dataset": g.dataset,
            "psnr": g.psnr,
            "ssim": g.ssim,
            "consistency": g.consistency,
            "images": g.images,
            "seconds": seconds,
        }
        for g in report.groups()
    ]


def _table(rows: list[dict], datasets: list[str]) -> str:
    head = ["model", "setting", *(f"{d} PSNR / SSIM / cons." for d in datasets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keyed: dict[tuple[str, str], dict[str, dict]] = {}
    for r in rows:
        keyed.setdefault((r["model"], r["setting"]), {})[r["dataset"]] = r
    for (model, setting), cells in keyed.items():
        values = [
            f"{c['psnr']:.2f} / {c['ssim']:.4f} / {c['consistency'] / CONSISTENCY_UNIT:.1f}" if c else ""
            for c in (cells.get(d) for d in datasets)
        ]
        lines.append("| " + " | ".join([model, setting, *values]) + " |")
    return "\n".join(lines)


def _grid(args, baselines, sr3: SR3Runner, label: str) -> None:
    hr = mod_crop(to_uint8(read_image(args.grid).pixels[:3]).unsqueeze(0), args.scale)
    side = args.center_crop
    top, left = (hr.shape[-2] - side) // 2, (hr.shape[-1] - side) // 2
    hr = hr[..., top : top + side, left : left + side]
    lr = get_group("bicubic").degrade(hr, args.scale)
    x = lr.float() / 255
    hr_np = hr[0].permute(1, 2, 0).numpy()
    lr_np = np.repeat(np.repeat(lr[0].permute(1, 2, 0).numpy(), args.scale, 0), args.scale, 1)
    panels, texts = [lr_np], ["LR (nearest)"]
    outs = [(b.name, b) for b in baselines]
    with torch.inference_mode():
        for name, up in outs:
            image = to_uint8(up(x, args.scale))[0].permute(1, 2, 0).numpy()
            panels.append(image)
            texts.append(f"{name} {psnr(image, hr_np, crop_border=args.scale, y_channel=True):.2f}")
        sr3.configure(sampler=args.grid_sampler, steps=args.grid_steps)
        for seed in args.seeds:
            image = to_uint8(sr3.configure(seed=seed)(x, args.scale))[0].permute(1, 2, 0).numpy()
            panels.append(image)
            texts.append(f"{label} s{seed} {psnr(image, hr_np, crop_border=args.scale, y_channel=True):.2f}")
    panels.append(hr_np)
    texts.append("HR")
    zoom = max(1, args.grid_zoom)
    panels = [np.repeat(np.repeat(p, zoom, 0), zoom, 1) for p in panels]
    write_image(args.grid_out, side_by_side(panels, texts))
    print(f"wrote {args.grid_out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sr3", nargs="+", required=True, help="SR3 weight files")
    parser.add_argument("--labels", nargs="+", default=None)
    parser.add_argument("--baselines", nargs="*", default=["bicubic", "edsr-baseline-x4"])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--center-crop", type=int, default=128)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--samplers", nargs="+", default=["sr3", "ddim", "dpmpp_2m"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--grid", type=Path, default=None, help="an HR image for the picture grid")
    parser.add_argument("--grid-out", type=Path, default=None)
    parser.add_argument("--grid-sampler", default="ddim")
    parser.add_argument("--grid-steps", type=int, default=50)
    parser.add_argument("--grid-zoom", type=int, default=2)
    args = parser.parse_args()
    labels = args.labels or [Path(p).parent.name for p in args.sr3]
    datasets = [resolve_dataset(d, download=False) for d in args.datasets]
    baselines = [load_upscaler(b, device="cpu", precision="fp32") for b in args.baselines]
    rows: list[dict] = []
    for b in baselines:
        rows += _rows(b, b.name, "", datasets, args)
    runners = []
    for path, label in zip(args.sr3, labels, strict=True):
        runner = load_upscaler(path, device="cpu", precision="fp32")
        assert isinstance(runner, SR3Runner), f"{path} is not an SR3 model"
        runners.append((runner, label))
        for sampler in args.samplers:
            for steps in args.steps:
                runner.configure(sampler=sampler, steps=steps, seed=0)
                rows += _rows(runner, label, f"{sampler}, {steps} steps", datasets, args)
                print(rows[-1])
    names = [d.name for d in datasets]
    table = _table(rows, names)
    print(table)
    result = {"center_crop": args.center_crop, "scale": args.scale, "threads": torch.get_num_threads(),
              "rows": rows, "table": table}  # fmt: skip
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.grid is not None and args.grid_out is not None:
        _grid(args, baselines, *runners[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
