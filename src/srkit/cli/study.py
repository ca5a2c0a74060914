"""``srkit study run FILE [--arm NAME ...]``, ``srkit study report FILE`` and ``srkit study archive FILE``
(:mod:`srkit.study`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_study_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``study`` subcommand."""
    p = sub.add_parser(
        "study",
        help="run a study: several arms of one recipe, trained, evaluated and tabulated",
        description="A study file lists arms as overrides of one training recipe (docs/training.md, "
        "'Studies'). `run` trains every arm one after another (an interrupted arm resumes, a finished one "
        "is skipped), evaluates each and writes study.md, study.json, study.csv and curves.png into the "
        "study's folder; `report` only evaluates and tabulates what is there; `archive` copies the finished "
        "runs' records, logs and evaluations into the study's archive: folder (kept in git), from which "
        "later runs and reports read them.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="train, evaluate and tabulate every arm")
    run.add_argument("file", type=Path, help="study file, e.g. configs/study/srresnet_ablation_x2.yaml")
    run.add_argument("--arm", dest="arms", action="extend", nargs="+", default=[], metavar="NAME",
                     help="only these arms (the tables still cover every arm with results)")  # fmt: skip
    run.add_argument("--seed", dest="seeds", action="extend", nargs="+", type=int, default=[], metavar="S",
                     help="only these seeds of each arm")  # fmt: skip
    run.set_defaults(func=_run, train=True)
    report = actions.add_parser("report", help="evaluate and tabulate the finished arms, training nothing")
    report.add_argument("file", type=Path, help="study file")
    report.set_defaults(func=_run, train=False, arms=[], seeds=[])
    archive = actions.add_parser("archive", help="keep the finished runs' results in the study's archive")
    archive.add_argument("file", type=Path, help="study file (with an archive: folder)")
    archive.set_defaults(func=_archive)


def _archive(args: argparse.Namespace) -> int:
    from srkit.study import archive_study

    written = archive_study(args.file)
    print(f"wrote {len(written)} files")
    return 0


def _run(args: argparse.Namespace) -> int:
    # import-time cost: torch and the training stack load only when the command runs
    from srkit.study import run_study
    from srkit.train.interrupt import TrainingInterrupted

    try:
        result = run_study(args.file, only=args.arms, seeds=args.seeds, train_missing=args.train)
    except TrainingInterrupted as stop:
        if stop.main:
            print(f"srkit: {stop}; resume with: srkit study run {args.file}", file=sys.stderr, flush=True)
        return 130
    for path in result.written:
        print(f"wrote {path}")
    return 0
