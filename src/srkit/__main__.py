"""``python -m srkit`` and the ``srkit`` console script: pick the OpenMP wait policy for the command, then
run it (:func:`srkit.cli.main`).

GNU OpenMP (PyTorch's CPU thread pool on Linux) reads ``OMP_WAIT_POLICY`` once, when PyTorch is
imported, so it is set here, before anything imports torch. Idle threads spin (``ACTIVE``, libgomp's
default behaviour) or sleep (``PASSIVE``). Measured (``benchmarks/wait_policy.py``, ``docs/speed.md``):
on a loaded machine spinning threads steal the cores the working threads need, and inference ran
several times slower than with ``PASSIVE``; but ``PASSIVE`` slows training's many small backward
kernels. So inference commands get ``PASSIVE`` and ``srkit train`` keeps the default. A policy already
in the environment is always kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

#: Commands that only run networks forward (or not at all): their threads sleep when idle.
PASSIVE_COMMANDS = frozenset({"upscale", "eval", "models", "convert", "export", "interpolate"})


def wait_policy(argv: Sequence[str]) -> str | None:
    """The ``OMP_WAIT_POLICY`` for the command line ``argv`` (without the program name): ``PASSIVE``
    for the inference commands, ``None`` (libgomp's default) for training and anything else."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return "PASSIVE" if command in PASSIVE_COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Set the wait policy (unless the environment has one, or torch is already imported), then run."""
    args = list(sys.argv[1:] if argv is None else argv)
    policy = wait_policy(args)
    if policy is not None and "OMP_WAIT_POLICY" not in os.environ and "torch" not in sys.modules:
        os.environ["OMP_WAIT_POLICY"] = policy
    from srkit.cli import main as run_command

    return run_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
