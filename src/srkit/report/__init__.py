"""Reports people look at: the HTML report of evaluations (``srkit report``, ``srkit eval --report``) and
training curves (``srkit plot``). docs/report.md describes both.

Names are loaded on first use (PEP 562): ``srkit.report.plot_runs`` does not import PyTorch, and
nothing here imports matplotlib until a figure is drawn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srkit.report.curves import RunLog, plot_runs, read_log, save_figure
    from srkit.report.page import build_html, write_report
    from srkit.report.runs import EvalRun, ReportError, load_runs

__all__ = [
    "EvalRun",
    "ReportError",
    "RunLog",
    "build_html",
    "load_runs",
    "plot_runs",
    "read_log",
    "save_figure",
    "write_report",
]

_LAZY = {
    "EvalRun": "srkit.report.runs",
    "ReportError": "srkit.report.runs",
    "load_runs": "srkit.report.runs",
    "RunLog": "srkit.report.curves",
    "plot_runs": "srkit.report.curves",
    "read_log": "srkit.report.curves",
    "save_figure": "srkit.report.curves",
    "build_html": "srkit.report.page",
    "write_report": "srkit.report.page",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'srkit.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
