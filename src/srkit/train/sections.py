"""What every configuration section builds on (those of :mod:`srkit.train.config`, the objectives', the
optimiser's): unknown keys are errors, and a model-level validator names the sub-key it rejects
(:class:`SubKeyError`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SubKeyError(ValueError):
    """A validation failure of the sub-key ``key`` raised from a model-level validator; the formatter
    appends ``key`` to the model's location so the message names ``section.key``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are re-validated on
    assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
