"""Training objectives: what one training step does, plugged into the single loop of
:mod:`srkit.train.engine` (see :mod:`~srkit.train.objectives.base` for the interface, the step context
and the registry).

The built-in objectives, registered when this package is imported: ``pixel``
(:mod:`~srkit.train.objectives.pixel`), ``erm`` and ``group_dro`` (:mod:`~srkit.train.objectives.robust`),
``gan`` (:mod:`~srkit.train.objectives.gan`), ``diffusion`` (SR3's noise prediction,
:mod:`~srkit.train.objectives.diffusion`).
"""

from srkit.train.objectives.base import (
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
    Batch,
    Objective,
    RegisteredObjective,
    StepContext,
    build_objective,
    default_objective_config,
    objective_config_union,
    register_objective,
)

# imported (so registered, and listed in messages) in this order
from srkit.train.objectives.pixel import LossConfig, PixelObjective, PixelObjectiveConfig
from srkit.train.objectives.robust import (
    ERMObjective,
    ERMObjectiveConfig,
    GroupDROObjective,
    GroupDROObjectiveConfig,
)

# isort: split
from srkit.train.objectives.gan import DiscriminatorConfig, GANObjective, GANObjectiveConfig, PerceptualConfig

# isort: split
from srkit.train.objectives.diffusion import BlurConfig, DiffusionObjective, DiffusionObjectiveConfig

__all__ = [
    "DEFAULT_OBJECTIVE",
    "OBJECTIVES",
    "Batch",
    "BlurConfig",
    "DiffusionObjective",
    "DiffusionObjectiveConfig",
    "DiscriminatorConfig",
    "ERMObjective",
    "ERMObjectiveConfig",
    "GANObjective",
    "GANObjectiveConfig",
    "GroupDROObjective",
    "GroupDROObjectiveConfig",
    "LossConfig",
    "Objective",
    "PerceptualConfig",
    "PixelObjective",
    "PixelObjectiveConfig",
    "RegisteredObjective",
    "StepContext",
    "build_objective",
    "default_objective_config",
    "objective_config_union",
    "register_objective",
]
