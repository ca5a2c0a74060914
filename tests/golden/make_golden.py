"""Record ``digests.json`` from :mod:`cases` (run once, before a refactor that must change nothing):

.venv/bin/python tests/golden/make_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from cases import cases, machine


def record() -> None:
    torch.set_num_threads(1)
    results: dict[str, object] = {}
    for name, (compute, needs) in cases().items():
        if any(not Path(p).exists() for p in needs):
            print(f"skip {name}: reference data absent")
            continue
        results[name] = compute()
        print(f"{name}: done")
    out = Path(__file__).with_name("digests.json")
    out.write_text(json.dumps({"machine": machine(), "threads": 1, "cases": results}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    record()
