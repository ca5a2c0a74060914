"""The whole recipe, :class:`TrainConfig`: the sections of :mod:`srkit.train.config` and the ``objective``
section, which takes the config of any objective registered in :mod:`srkit.train.objectives`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from srkit.train.config.data import DataConfig
from srkit.train.config.loop import LoggingConfig, LoopConfig
from srkit.train.config.model import ModelConfig
from srkit.train.objectives import default_objective_config, objective_config_union
from srkit.train.optim import OptimConfig, ScheduleConfig
from srkit.train.sections import Section, SubKeyError

#: The ``objective`` section: the config model of any objective of
#: :data:`srkit.train.objectives.OBJECTIVES`, a union tagged by ``name`` (default ``pixel``).
if TYPE_CHECKING:  # the union is built at run time; to the type checker it is a section with a name

    class ObjectiveConfig(Section):
        name: str

else:
    ObjectiveConfig = objective_config_union()


class TrainConfig(Section):
    """A whole training recipe (see :mod:`srkit.train.config` and ``docs/training.md``)."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(0, ge=0)
    scale: int = Field(gt=0)
    model: ModelConfig
    data: DataConfig
    objective: ObjectiveConfig = Field(default_factory=default_objective_config)
    optim: OptimConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: LoopConfig
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if "/" in name or "\\" in name or name.strip() != name or name in (".", ".."):
            raise ValueError(f"must be a plain folder name (no slashes or surrounding spaces), got {name!r}")
        return name

    @model_validator(mode="after")
    def _cross(self) -> TrainConfig:
        if self.train.precision == "fp16" and self.train.device == "cpu":
            raise SubKeyError("train.precision", "fp16 needs CUDA; use bf16 on CPU")
        return self
