"""Study files: one YAML file lists the arms of a study as overrides of one training recipe.

.. code-block:: yaml

    name: srresnet_ablation_x2
    description: the SRResNet ablation at x2 (docs/srresnet_ablation.md)
    recipe: ../srresnet_x2.yaml          # relative to the study file
    set: [train.steps=2000]             # overrides every arm shares
    seeds: [0]                          # every arm is trained once per seed
    arms:
      - {name: b16, finding: "the reference"}
      - {name: b8, set: [model.hparams.num_blocks=8], finding: "fewer blocks: lower PSNR"}
      - {name: vgg54, recipe: ../srresnet_x2_vgg54.yaml, requires: [vgg19]}
    eval:
      datasets: [../shared/data/Set5, ../shared/data/Set14]   # relative to the working directory
      degradations: [bicubic]
      references: [edsr-baseline-x2, {name: interpolation, model: bicubic}]   # evaluated alike, not trained
    compare: [[dro, erm]]               # robustness: is the first arm's worst-group gain over the second
                                        # larger than the seed spread? (the second may be a reference)

Every key is checked (unknown keys are errors naming them), arm names are unique, and every arm's
recipe with its overrides must validate as a training recipe before anything runs
(:func:`srkit.study.runner.plan_study`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srkit.errors import ConfigError
from srkit.train.config.loading import validation_error_message

__all__ = ["ArmConfig", "Reference", "StudyConfig", "StudyEval", "load_study"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmConfig(_Section):
    """One arm: a name (its run folder), the recipe (default: the study's) and its overrides, the
    finding of the source study for it (shown beside srkit's result), and the optional weight files it
    needs (``srkit fetch-weights`` names): an arm whose files are absent is not run and the table says
    why."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    recipe: Path | None = None
    set: list[str] = Field(default_factory=list)
    finding: str = ""
    requires: list[str] = Field(default_factory=list)
    seeds: list[int] | None = None


class Reference(_Section):
    """A model the study evaluates beside its arms without training it: ``model`` is anything
    ``srkit eval --model`` takes, ``name`` its row in the tables (a plain string sets both)."""

    name: str = Field(min_length=1)
    model: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"name": value, "model": value} if isinstance(value, str) else value


class StudyEval(_Section):
    """How every arm is measured after training (``srkit eval``'s conventions)."""

    datasets: list[str] = Field(min_length=1)
    scale: int | None = Field(None, ge=1)
    degradations: list[str] = Field(default_factory=lambda: ["bicubic"], min_length=1)
    weights: Literal["model", "best"] = "model"
    held_out: list[str] = Field(default_factory=list)
    """Degradation groups no arm trained on, marked as held out in the tables."""
    references: list[Reference] = Field(default_factory=list)
    """Models the study does not train, evaluated the same way and tabulated beside the arms: an
    interpolation kernel (``bicubic``), a shipped model (``edsr-baseline-x2-robust``) or a weight file
    (relative to the working directory); a ``compare`` pair may name one as its second member."""


class StudyConfig(_Section):
    """A whole study (see the module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    recipe: Path
    set: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    out: Path | None = None
    archive: Path | None = None
    """Folder (relative to the study file) that ``srkit study archive`` copies every finished run's
    record, log and evaluation into, so the tables survive without the run folders (a fresh clone)."""
    arms: list[ArmConfig] = Field(min_length=1)
    eval: StudyEval
    compare: list[tuple[str, str]] = Field(default_factory=list)

    @field_validator("arms")
    @classmethod
    def _unique(cls, arms: list[ArmConfig]) -> list[ArmConfig]:
        names = [arm.name for arm in arms]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"arm names repeat: {', '.join(repeated)}")
        return arms

    @model_validator(mode="after")
    def _known_pairs(self) -> StudyConfig:
        names = {arm.name for arm in self.arms}
        references = [r.name for r in self.eval.references]
        clash = sorted(names & set(references))
        if clash:
            raise ValueError(f"eval.references: {clash[0]!r} is also an arm's name (give it a name: key)")
        for a, b in self.compare:
            unknown = [n for n in (a, b) if n not in names | ({b} & set(references))]
            if unknown:
                raise ValueError(f"compare: unknown arm {unknown[0]!r}")
        return self

    def arm_seeds(self, arm: ArmConfig) -> list[int]:
        """The seeds ``arm`` is trained with."""
        return arm.seeds if arm.seeds is not None else self.seeds


def load_study(path: str | Path) -> tuple[StudyConfig, Path]:
    """``(study, folder of the file)``; recipe paths are resolved against that folder.

    Raises:
        ConfigError: one line naming the file and the bad key.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the study file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a study file is a mapping of keys (name, recipe, arms, eval, ...)")
    try:
        study = StudyConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_error_message(err, str(path))) from None
    return study, path.parent
