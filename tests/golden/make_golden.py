"""Record ``digests.json`` from :mod:`cases` (run once, before a refactor that must change nothing):

.venv/bin/python tests/golden/make_golden.py

A deliberate change of behaviour re-records only the cases it changes, with the reason, which
``digests.json`` keeps under ``"rerecorded"`` (on the recording machine: see ``machine``). A change made
on another kind of machine lists the cases it changes under ``"stale"`` with the reason; they are skipped
until someone on the recording machine re-records them (which removes them from ``"stale"``):

.venv/bin/python tests/golden/make_golden.py --only "upscale edsr-baseline-x2 fp32 tiled 40/8" --why "..."
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from cases import cases, machine


def record(only: list[str] | None = None, why: str | None = None) -> None:
    torch.set_num_threads(1)
    out = Path(__file__).with_name("digests.json")
    every = cases()
    if only:
        recorded = json.loads(out.read_text())
        if recorded["machine"] != machine():
            raise SystemExit(f"recorded on {recorded['machine']!r}; this is {machine()!r}")
        unknown = sorted(set(only) - set(every))
        if unknown or not why:
            raise SystemExit(f"unknown cases {unknown}" if unknown else "--only needs --why")
    else:
        recorded = {"machine": machine(), "threads": 1, "cases": {}}
    for name, (compute, needs) in every.items():
        if only and name not in only:
            continue
        if any(not Path(p).exists() for p in needs):
            print(f"skip {name}: reference data absent")
            continue
        recorded["cases"][name] = compute()
        if only:
            recorded.setdefault("rerecorded", {})[name] = why
            recorded.get("stale", {}).pop(name, None)
        print(f"{name}: done")
    out.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="record the golden digests")
    parser.add_argument("--only", nargs="+", help="re-record these cases only (a deliberate change)")
    parser.add_argument("--why", help="the change that makes them differ (kept in digests.json)")
    args = parser.parse_args()
    record(args.only, args.why)
