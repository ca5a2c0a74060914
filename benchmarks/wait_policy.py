"""What the OpenMP wait policy does to inference and training, idle and under load.

GNU OpenMP reads ``OMP_WAIT_POLICY`` when PyTorch starts, so every measurement is a fresh Python
process with the policy in its environment (``ACTIVE``: idle threads spin; ``PASSIVE``: they sleep;
unset: libgomp's default, spinning for a while before sleeping). Workloads, each with
``torch.set_num_threads(--threads)``:

- ``load``: loading the shipped default x2 model (``srkit.archs.load_network``);
- ``inference``: the runner on a 128x128 crop of the sample (fp32, the default path on a CPU without
  native bf16), median of 5 calls after one;
- ``training``: forward + L1 + backward + Adam of EDSR-baseline x2, batch 4, LR patch 32, median of 5
  steps after one (fp32; ``--bf16`` adds the bf16 autocast step).

Conditions: ``idle``, and ``loaded`` with one busy-looping process per core besides (another job on
the machine). Policies alternate within each round. Prints a table (median wall seconds over
``--rounds``) and writes JSON (default ``benchmarks/results/wait_policy.json``)::

    .venv/bin/python benchmarks/wait_policy.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from srkit.evaluation import format_table
from srkit.io.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "wait_policy.json"
POLICIES = ("default", "ACTIVE", "PASSIVE")

WORKER = r"""
import json, statistics, sys, time
import torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
workload = sys.argv[2]
from srkit.archs import build_model, load_network
from srkit.archs.runner import make_runner
from srkit.io import read_image
from srkit.settings import sample_image_path

def median_of(fn, n=5):
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

if workload == "load":
    start = time.perf_counter()
    load_network("edsr-baseline-x2")
    seconds = time.perf_counter() - start
elif workload == "inference":
    runner = make_runner(load_network("edsr-baseline-x2"), device="cpu", precision="fp32")
    x = read_image(sample_image_path()).pixels[None, :3, 100:228, 100:228].contiguous()
    seconds = median_of(lambda: runner(x, 2))
else:
    torch.manual_seed(0)
    net = build_model("edsr-baseline", scale=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    lr, hr = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 64, 64)
    bf16 = workload == "training-bf16"
    if bf16:
        net = net.to(memory_format=torch.channels_last)
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            sr = net(lr)
        loss = F.l1_loss(sr.float(), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = median_of(step)
print(json.dumps({"seconds": seconds}))
"""


def _busy() -> None:
    while True:
        pass


def measure(workload: str, policy: str, threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(threads), workload],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="also the bf16 training step")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    workloads = ["load", "inference", "training"] + (["training-bf16"] if args.bf16 else [])
    cores = os.cpu_count() or 1
    results: dict[str, dict[str, dict[str, float]]] = {}
    for condition in ("idle", "loaded"):
        busy = [
            multiprocessing.Process(target=_busy, daemon=True)
            for _ in range(cores if condition == "loaded" else 0)
        ]
        for p in busy:
            p.start()
        try:
            samples: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for workload in workloads:
                    for policy in POLICIES:
                        samples.setdefault((workload, policy), []).append(
                            measure(workload, policy, args.threads)
                        )
                        print(
                            f"  {condition} {workload} {policy}: {samples[(workload, policy)][-1]:.3f} s",
                            flush=True,
                        )
        finally:
            for p in busy:
                p.terminate()
        results[condition] = {w: {p: statistics.median(samples[(w, p)]) for p in POLICIES} for w in workloads}
    rows: list[list[Any]] = []
    for condition, table in results.items():
        for workload, by_policy in table.items():
            rows.append(
                [
                    condition,
                    workload,
                    *(by_policy[p] for p in POLICIES),
                    by_policy["ACTIVE"] / by_policy["PASSIVE"],
                ]
            )
    print(f"\nmedian wall seconds, {args.threads} threads, {cores} cores, {args.rounds} rounds:")
    print(format_table(["condition", "workload", *POLICIES, "ACTIVE / PASSIVE"], rows))
    result = {
        "machine": {"processor": platform.processor() or platform.machine(), "cores": cores},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": results,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
