"""The OpenMP wait policy is chosen per command before PyTorch is imported (``srkit.__main__``):
inference commands on a busy machine sleep idle threads, training keeps libgomp's default, the user's
setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

from srkit.__main__ import wait_policy

PROBE = """
import os, sys
assert "torch" not in sys.modules
import srkit.__main__ as entry
entry.load_average = lambda: float(os.environ["FAKE_LOAD"])
status = entry.main(sys.argv[1:])
import torch  # already imported by the command, after the policy was set
print("POLICY", os.environ.get("OMP_WAIT_POLICY"), status)
"""


def test_inference_commands_are_passive_on_a_busy_machine_and_training_is_left_alone() -> None:
    busy, idle = 2.5, 0.2
    assert wait_policy(["upscale", "a.png"], busy) == "PASSIVE"
    assert wait_policy(["upscale", "a.png"], idle) is None  # idle: spinning threads wake faster
    assert wait_policy(["eval", "--model", "bicubic"], busy) == "PASSIVE"
    assert wait_policy(["models"], busy) == wait_policy(["convert", "x.pth"], busy) == "PASSIVE"
    assert wait_policy(["train", "configs/edsr_baseline_x2.yaml"], busy) is None
    assert wait_policy(["--version"], busy) is None and wait_policy([], busy) is None


def _policy(*args: str, env: dict[str, str] | None = None, load: float = 3.0) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"FAKE_LOAD": str(load)}
    environ |= env or {}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=environ, capture_output=True, text=True, check=True
    ).stdout
    return next(line for line in out.splitlines() if line.startswith("POLICY"))


def test_the_policy_is_in_the_environment_before_torch_starts() -> None:
    assert _policy("models") == "POLICY PASSIVE 0"
    assert _policy("models", load=0.1) == "POLICY None 0"
    assert _policy("models", env={"OMP_WAIT_POLICY": "ACTIVE"}) == "POLICY ACTIVE 0"  # the user's wins
    assert _policy("train", "missing.yaml") == "POLICY None 2"  # training: libgomp's default (spinning)
