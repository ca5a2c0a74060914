"""The OpenMP wait policy is chosen per command before PyTorch is imported (``srkit.__main__``):
inference commands sleep idle threads, training keeps libgomp's default, the user's setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

from srkit.__main__ import wait_policy

PROBE = """
import os, sys
assert "torch" not in sys.modules
from srkit.__main__ import main
status = main(sys.argv[1:])
import torch  # already imported by the command, after the policy was set
print("POLICY", os.environ.get("OMP_WAIT_POLICY"), status)
"""


def test_inference_commands_are_passive_and_training_is_left_alone() -> None:
    assert wait_policy(["upscale", "a.png"]) == "PASSIVE"
    assert wait_policy(["eval", "--model", "bicubic"]) == "PASSIVE"
    assert wait_policy(["models"]) == wait_policy(["convert", "x.pth"]) == "PASSIVE"
    assert wait_policy(["train", "configs/edsr_baseline_x2.yaml"]) is None
    assert wait_policy(["--version"]) is None and wait_policy([]) is None


def _policy(*args: str, env: dict[str, str] | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | (env or {})
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=environ, capture_output=True, text=True, check=True
    ).stdout
    return next(line for line in out.splitlines() if line.startswith("POLICY"))


def test_the_policy_is_in_the_environment_before_torch_starts() -> None:
    assert _policy("models") == "POLICY PASSIVE 0"
    assert _policy("models", env={"OMP_WAIT_POLICY": "ACTIVE"}) == "POLICY ACTIVE 0"  # the user's wins
    assert _policy("train", "missing.yaml") == "POLICY None 2"  # training: libgomp's default (spinning)
