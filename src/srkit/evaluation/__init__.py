"""Literature-exact evaluation: ``evaluate`` runs the measurements, ``report`` formats and writes them."""

from srkit.evaluation.report import (
    comparison_rows,
    comparison_table,
    format_table,
    report_table,
    write_comparison,
    write_report,
)
from srkit.evaluation.runner import (
    EvalReport,
    GroupScore,
    ImageSample,
    ImageScore,
    RobustnessSummary,
    SkippedImage,
    evaluate,
    size_problem,
)

__all__ = [
    "EvalReport",
    "GroupScore",
    "ImageSample",
    "ImageScore",
    "RobustnessSummary",
    "SkippedImage",
    "comparison_rows",
    "comparison_table",
    "evaluate",
    "format_table",
    "report_table",
    "size_problem",
    "write_comparison",
    "write_report",
]
