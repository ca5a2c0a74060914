"""Literature-exact evaluation: ``evaluate`` runs the measurements, ``report`` formats and writes them."""

from srkit.evaluation.report import format_table, report_table, write_report
from srkit.evaluation.runner import EvalReport, GroupScore, ImageScore, RobustnessSummary, evaluate

__all__ = [
    "EvalReport",
    "GroupScore",
    "ImageScore",
    "RobustnessSummary",
    "evaluate",
    "format_table",
    "report_table",
    "write_report",
]
