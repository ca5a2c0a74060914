"""The typed training configuration: YAML -> pydantic models, ``--set`` overrides, one-line errors.

The sections live in :mod:`~srkit.train.config.model`, :mod:`~srkit.train.config.data` and
:mod:`~srkit.train.config.loop` (``train``, ``logging``); ``optim`` and ``schedule`` beside the optimiser
code (:mod:`srkit.train.optim`), each objective's section beside its code (:mod:`srkit.train.objectives`),
their common base in :mod:`srkit.train.sections`; the whole recipe is
:class:`~srkit.train.config.recipe.TrainConfig`; reading, overriding, validating and dumping are
:mod:`~srkit.train.config.loading`.

A recipe is a YAML file whose keys mirror :class:`TrainConfig` (see ``docs/training.md`` for every key).
Loading goes:

1. read the YAML file; if it has ``extends: OTHER.yaml`` (a path relative to the file), read that first
   and deep-merge this file over it (mappings merge key by key, anything else is replaced);
2. apply ``--set a.b.c=value`` overrides, each value parsed as a YAML scalar or flow value
   (``1e-4``, ``true``, ``null``, ``[0.9, 0.99]``); a numeric key indexes into a list
   (``objective.losses.0.weight=2``);
3. validate with :class:`TrainConfig` (unknown keys are errors everywhere). Every failure is a
   :class:`~srkit.errors.ConfigError` with one line naming the dotted key, e.g.
   ``recipe.yaml: optim.lr: Input should be greater than 0``.

:func:`dump_config` writes the resolved configuration (``extends`` merged, overrides applied, every
default filled in) so a run folder's ``config.yaml`` reproduces the run on its own.

Relative paths inside a configuration (training folders, validation sets) are relative to the current
working directory of ``srkit train``, not to the YAML file.
"""

from srkit.train.config.data import AugmentSection, DataConfig, GroupConfig, TrainDataConfig, ValDataConfig
from srkit.train.config.loading import (
    apply_override,
    build_config,
    config_to_dict,
    deep_merge,
    diff_keys,
    dump_config,
    load_config,
    parse_override,
    read_config_tree,
    read_yaml,
    validation_error_message,
)
from srkit.train.config.loop import LoggingConfig, LoopConfig
from srkit.train.config.model import ModelConfig
from srkit.train.config.recipe import ObjectiveConfig, TrainConfig
from srkit.train.optim import SCHEDULE_KEYS, OptimConfig, ScheduleConfig, ScheduleType
from srkit.train.sections import Section, SubKeyError

__all__ = [
    "SCHEDULE_KEYS",
    "AugmentSection",
    "DataConfig",
    "GroupConfig",
    "LoggingConfig",
    "LoopConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "ScheduleConfig",
    "ScheduleType",
    "Section",
    "SubKeyError",
    "TrainConfig",
    "TrainDataConfig",
    "ValDataConfig",
    "apply_override",
    "build_config",
    "config_to_dict",
    "deep_merge",
    "diff_keys",
    "dump_config",
    "load_config",
    "parse_override",
    "read_config_tree",
    "read_yaml",
    "validation_error_message",
]
