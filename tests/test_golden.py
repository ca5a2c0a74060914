"""Nothing a user sees may change in a refactor: evaluation numbers, upscaled pixels and training
results equal the digests recorded before the model-seam redesign (``tests/golden/``).

Float results are bit-identical only on the kind of machine that recorded them (the same torch, CPU
kernels and thread count), so on another machine the pixel and float cases are skipped with that
reason; the bicubic cases (integer arithmetic on uint8 images) hold everywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "golden"))

from cases import cases, machine

RECORDED = json.loads((Path(__file__).parent / "golden" / "digests.json").read_text())
CASES = cases()
#: Cases whose results do not depend on float kernels.
PORTABLE = {
    "eval bicubic sample all kernels x2 x3 x4",
    "eval bicubic Set5 Set14 x2 x3 x4",
    "upscale bicubic x3",
}


@pytest.mark.parametrize("name", sorted(RECORDED["cases"]))
def test_result_is_unchanged(name: str) -> None:
    if name not in PORTABLE and machine() != RECORDED["machine"]:
        pytest.skip(f"recorded on {RECORDED['machine']!r}; this is {machine()!r}")
    if name in RECORDED.get("stale", {}):
        pytest.skip(
            f"changed on purpose ({RECORDED['stale'][name]}): re-record with "
            f"tests/golden/make_golden.py --only {name!r} --why '...'"
        )
    compute, needs = CASES[name]
    missing = [p for p in needs if not Path(p).exists()]
    if missing:
        pytest.skip(f"reference data {missing[0]} is absent (set SRKIT_SHARED)")
    torch.set_num_threads(RECORDED["threads"])
    assert compute() == RECORDED["cases"][name]


def test_every_case_was_recorded() -> None:
    """A case added to ``cases.py`` is recorded before it can guard anything; a stale case is one of them
    and says why it changed."""
    assert set(CASES) == set(RECORDED["cases"])
    stale = RECORDED.get("stale", {})
    assert set(stale) <= set(CASES) and all(why.strip() for why in stale.values())
