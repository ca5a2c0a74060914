"""What ``eval.json`` records so that a number can be reproduced: the software, the machine, the model
(its file's sha256 and metadata, device and precision), the conventions (channel, border crop, the
degradation groups with their definitions, scales) and every image scored, with its sha256.

A published number is only comparable with another one measured the same way (docs/evaluation.md); the
record answers "how exactly was this measured?" without the command line that produced it.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import torch

from srkit.data import HRDataset
from srkit.degrade import DegradationGroup
from srkit.io.download import sha256_file
from srkit.version import __version__

__all__ = ["dataset_record", "environment", "run_settings"]


def environment() -> dict[str, Any]:
    """srkit, PyTorch and Python versions, the OS, the CPU and the intra-op thread count."""
    return {
        "srkit": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "amx": bool(torch.cpu._is_amx_tile_supported()),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def _cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fp:
            for line in fp:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def dataset_record(dataset: HRDataset) -> dict[str, Any]:
    """A dataset's name, folder and every file with its size and sha256 (the HR images as scored)."""
    return {
        "name": dataset.name,
        "root": str(dataset.root.resolve()),
        "files": [
            {
                "name": str(path.relative_to(dataset.root)),
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
            }
            for path in dataset.files
        ],
    }


def run_settings(
    *,
    model: dict[str, Any] | None,
    datasets: Sequence[HRDataset],
    scales: Sequence[int],
    groups: Sequence[DegradationGroup],
    y_channel: bool,
    crop_border: int | None,
    center_crop: int | None = None,
    samples: int = 1,
) -> dict[str, Any]:
    """The ``settings`` block of ``eval.json`` (see the module docstring)."""
    return {
        "environment": environment(),
        "model": model or {},
        "channel": "y" if y_channel else "rgb",
        "crop_border": "scale" if crop_border is None else crop_border,
        "scales": list(scales),
        "degradations": [{"name": g.name, "kernel": g.kernel, "description": g.description} for g in groups],
        "center_crop": center_crop,
        "samples": samples,
        "datasets": [dataset_record(d) for d in datasets],
        "conventions": "docs/evaluation.md",
    }
