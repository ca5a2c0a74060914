"""``srkit train CONFIG [--set KEY=VALUE ...] [--resume [PATH]] [--out DIR]``.

Only :func:`add_train_parser` is imported by :mod:`srkit.cli`; the engine (and PyTorch) are imported
when the command runs. Ctrl-C saves the training state after the step in progress, prints one line with
the command that resumes the run (:func:`resume_command`) and exits with status 130.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

RESUME_FROM_RUN_DIR = "<run folder>"


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a network from a YAML recipe",
        description=(
            "Train a super-resolution network from a YAML recipe (see configs/ and docs/training.md). "
            "Writes runs/<name>/ (or --out): config.yaml, state.pt, model.safetensors, best.safetensors, "
            "log.jsonl, train.csv, val.csv. Under torchrun, trains with DistributedDataParallel. Ctrl-C "
            "saves the training state after the step in progress and prints the command that resumes the "
            "run (a second Ctrl-C stops at once, keeping the last saved state)."
        ),
    )
    p.add_argument("config", type=Path, help="YAML recipe, e.g. configs/edsr_baseline_x2.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, value parsed as YAML (e.g. --set optim.lr=2e-4 train.steps=1000)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=RESUME_FROM_RUN_DIR,
        default=None,
        metavar="PATH",
        help="continue from a training state: a state.pt or a run folder (default: the run folder's)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default runs/<name>; with --resume PATH, the folder of that state)",
    )
    p.set_defaults(func=_run_train)


def resolve_paths(name: str, out: Path | None, resume: str | None) -> tuple[Path, Path | None]:
    """``(run folder, state file or None)`` from ``--out`` and ``--resume``.

    The run folder is ``--out``, else the folder of ``--resume PATH``, else ``runs/<name>``; a bare
    ``--resume`` resumes from the run folder's ``state.pt``.
    """
    from srkit.train.state import STATE_FILE, resolve_state_path  # import-time cost: torch

    if resume is None:
        return (out if out is not None else Path("runs") / name), None
    if resume == RESUME_FROM_RUN_DIR:
        run_dir = out if out is not None else Path("runs") / name
        return run_dir, run_dir / STATE_FILE
    state = resolve_state_path(resume)
    return (out if out is not None else state.parent), state


#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports a process ended by it).
INTERRUPTED_STATUS = 130


def resume_command(config: Path, overrides: Sequence[str], run_dir: Path) -> str:
    """The shell command that resumes the run in ``run_dir``: ``srkit train CONFIG [--set ...] --resume
    RUN_DIR`` (the same recipe and overrides; ``--resume`` with a folder continues from its state file
    and keeps writing there)."""
    words = ["srkit", "train", str(config)]
    if overrides:
        words += ["--set", *overrides]
    words += ["--resume", str(run_dir)]
    return " ".join(shlex.quote(word) for word in words)


def _run_train(args: argparse.Namespace) -> int:
    # import-time cost: torch and the training stack load only when the command runs
    from srkit.train.config import load_config
    from srkit.train.engine import train
    from srkit.train.interrupt import TrainingInterrupted

    config = load_config(args.config, args.overrides)
    run_dir, state = resolve_paths(config.name, args.out, args.resume)
    try:
        train(config, run_dir=run_dir, resume=state)
    except TrainingInterrupted as stop:
        if stop.main:
            command = resume_command(args.config, args.overrides, stop.run_dir)
            print(f"srkit: {stop}; resume with: {command}", file=sys.stderr, flush=True)
        return INTERRUPTED_STATUS
    return 0
