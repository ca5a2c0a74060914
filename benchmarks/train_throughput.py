"""Training throughput on this machine: EDSR-baseline x2, batch 16, LR patch 48 (the EDSR recipe).

Measures, in one run:
- the model step alone (forward, L1 loss, backward, Adam step) on random patches, in fp32 and in
  bf16 autocast + channels_last (what ``train.precision: bf16`` / ``train.channels_last: true`` do),
  the two precisions' steps alternating, in wall and CPU time;
- the data loader alone (``SRTrainDataset`` + ``build_train_loader``: decode, random crop, on-the-fly
  MATLAB-bicubic LR, flips/transposes) over a folder of HR images, in patches/s.

Targets: the bf16 step >= 3x the fp32 step; the loader >= 2x the model's patch rate (bf16), so training
is never data-bound. Prints a table and writes JSON (default ``benchmarks/results/train_throughput.json``).

    .venv/bin/python benchmarks/train_throughput.py                      # HR images from ../shared/data
    .venv/bin/python benchmarks/train_throughput.py --hr my/hr/folder --steps 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from srkit.archs import build_model
from srkit.data import SRTrainDataset, build_train_loader
from srkit.devices import cpu_has_fast_bf16
from srkit.evaluation import format_table
from srkit.io.atomic import atomic_write_text
from srkit.settings import shared_dir

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"
BF16_TARGET = 3.0
LOADER_TARGET = 2.0


class ModelStep:
    """Forward + L1 + backward + Adam for EDSR-baseline on fixed random patches, in one precision."""

    def __init__(self, precision: str, batch: int, patch: int, scale: int) -> None:
        torch.manual_seed(0)
        self.precision = precision
        model = build_model("edsr-baseline", scale=scale)
        channels_last = precision == "bf16"
        lr = torch.rand(batch, 3, patch, patch)
        hr = torch.rand(batch, 3, patch * scale, patch * scale)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            lr = lr.contiguous(memory_format=torch.channels_last)
            hr = hr.contiguous(memory_format=torch.channels_last)
        self.model, self.lr, self.hr = model, lr, hr
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def __call__(self) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            sr = self.model(self.lr)
        loss = F.l1_loss(sr.float(), self.hr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def interleaved_steps(
    precisions: list[str], batch: int, patch: int, scale: int, steps: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds per step of each precision, the precisions' steps alternating
    (fp32, bf16, fp32, bf16, ...) so that a change in the machine's load hits all of them alike.
    (Run one after the other on a loaded machine, bf16 once came out at 0.67x fp32.)"""
    runners = [ModelStep(p, batch, patch, scale) for p in precisions]
    wall: dict[str, list[float]] = {p: [] for p in precisions}
    cpu: dict[str, list[float]] = {p: [] for p in precisions}
    for i in range(warmup + steps):
        for run in runners:
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            if i >= warmup:
                wall[run.precision].append(time.perf_counter() - w0)
                cpu[run.precision].append(time.process_time() - c0)
    return {p: {"wall_s": statistics.median(wall[p]), "cpu_s": statistics.median(cpu[p])} for p in precisions}


def loader_patches_per_s(
    hr_dirs: list[Path], batch: int, patch: int, scale: int, workers: int, steps: int
) -> float:
    """Patches/s of the training loader after its first batches (image cache warm)."""
    dataset = SRTrainDataset(hr_dirs, scale=scale, patch_size=patch, seed=0)
    dataset.preload()
    loader = iter(build_train_loader(dataset, batch, workers, seed=0))
    for _ in range(3):  # worker start-up
        next(loader)
    start = time.perf_counter()
    for _ in range(steps):
        next(loader)
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_hr = [shared_dir() / "data" / "BSDS500" / "train", shared_dir() / "data" / "BSDS500" / "test"]
    parser.add_argument("--hr", type=Path, nargs="+", default=default_hr, help="HR image folders")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="LR patch size")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed model steps per precision")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="loader worker processes")
    parser.add_argument("--loader-steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    step = interleaved_steps(["fp32", "bf16"], args.batch, args.patch, args.scale, args.steps, args.warmup)
    fp32, bf16 = 1.0 / step["fp32"]["wall_s"], 1.0 / step["bf16"]["wall_s"]
    cpu_ratio = step["fp32"]["cpu_s"] / step["bf16"]["cpu_s"]
    loader = loader_patches_per_s(
        args.hr, args.batch, args.patch, args.scale, args.workers, args.loader_steps
    )
    rows = [
        ["model step fp32", fp32, fp32 * args.batch, step["fp32"]["cpu_s"], 1.0, 1.0],
        [
            "model step bf16 + channels_last",
            bf16,
            bf16 * args.batch,
            step["bf16"]["cpu_s"],
            bf16 / fp32,
            cpu_ratio,
        ],
        [
            f"data loader ({args.workers} worker)",
            loader / args.batch,
            loader,
            "-",
            loader / (bf16 * args.batch),
            "-",
        ],
    ]
    print(
        f"EDSR-baseline x{args.scale}, batch {args.batch}, LR patch {args.patch}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(format_table(["what", "steps/s", "patches/s", "CPU s/step", "ratio (wall)", "ratio (CPU)"], rows))
    print(
        "fp32 and bf16 steps alternate; ratio: bf16 row = bf16/fp32 speed-up (target >= 3); "
        "loader row = loader / bf16 model patches (target >= 2)"
    )
    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "torch": torch.__version__,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "hr"},
        "fp32_steps_per_s": fp32,
        "bf16_steps_per_s": bf16,
        "bf16_speedup": bf16 / fp32,
        "bf16_speedup_cpu_time": cpu_ratio,
        "step_seconds": step,
        "fast_bf16": cpu_has_fast_bf16(),
        "loader_patches_per_s": loader,
        "loader_over_model": loader / (bf16 * args.batch),
        "targets": {"bf16_speedup": BF16_TARGET, "loader_over_model": LOADER_TARGET},
        "met": {
            "bf16_speedup": bf16 / fp32 >= BF16_TARGET,
            "loader_over_model": loader / (bf16 * args.batch) >= LOADER_TARGET,
        },
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
