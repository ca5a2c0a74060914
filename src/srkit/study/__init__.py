"""Studies: several training arms from one recipe, run one after another, evaluated and tabulated
(``srkit study run FILE``; :mod:`srkit.study.config` for the file, :mod:`srkit.study.runner` for the
run, :mod:`srkit.study.tables` for the tables)."""

from srkit.study.config import ArmConfig, StudyConfig, StudyEval, load_study
from srkit.study.runner import ArmRun, StudyResult, archive_study, plan_study, run_study

__all__ = [
    "ArmConfig",
    "ArmRun",
    "StudyConfig",
    "StudyEval",
    "StudyResult",
    "archive_study",
    "load_study",
    "plan_study",
    "run_study",
]
