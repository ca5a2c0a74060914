"""``python -m srkit`` and the ``srkit`` console script: pick the OpenMP wait policy for the command, then
run it (:func:`srkit.cli.main`).

GNU OpenMP (PyTorch's CPU thread pool on Linux) reads ``OMP_WAIT_POLICY`` once, when PyTorch is
imported, so it is set here, before anything imports torch. Idle threads spin (``ACTIVE``, libgomp's
default behaviour) or sleep (``PASSIVE``). Measured on 2 cores (``benchmarks/wait_policy.py``,
``docs/speed.md``): with other work on the machine, spinning threads steal the cores the working threads
need and a ``PASSIVE`` inference call was 1.86x faster (issue 11 saw 11x on another machine); on an idle
machine ``PASSIVE`` made it 1.65x slower (threads that sleep wake late), and it slows training either
way. So inference commands get ``PASSIVE`` only when the machine is busy as they start (the 1-minute load
average is at least one core's worth, :data:`BUSY_LOAD`), and ``srkit train`` always keeps the default. A
policy already in the environment is always kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

#: Commands that only run networks forward (or not at all): their threads sleep when idle on a busy machine.
PASSIVE_COMMANDS = frozenset({"upscale", "eval", "models", "convert", "export", "interpolate"})
#: The 1-minute load average from which the machine counts as busy (one core's worth of other work).
BUSY_LOAD = 1.0


def load_average() -> float:
    """The 1-minute load average (0 where the system does not report one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def wait_policy(argv: Sequence[str], load: float | None = None) -> str | None:
    """The ``OMP_WAIT_POLICY`` for the command line ``argv`` (without the program name) at the 1-minute
    ``load`` average (default: the machine's now): ``PASSIVE`` for the inference commands on a busy
    machine, ``None`` (libgomp's default) otherwise and always for training."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in PASSIVE_COMMANDS:
        return None
    return "PASSIVE" if (load_average() if load is None else load) >= BUSY_LOAD else None


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
