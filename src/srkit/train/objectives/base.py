"""What an objective is (:class:`Objective`), what it may use of the run (:class:`StepContext`) and the
registry of objectives (:func:`register_objective`, :data:`OBJECTIVES`).

The loop owns the network, the data, precision, EMA, validation, checkpoints and logs; an objective owns
everything about the update: its losses, its optimisers and schedulers (a GAN has two of each, plus a
discriminator), and any state of its own (Group DRO's group weights). Its :meth:`~Objective.state_dict`
goes into the training-state file, so whatever it keeps there resumes exactly.

An objective reaches the run only through the :class:`StepContext` given to its ``setup``, so that
precision, gradient clipping, the fp16 scaler and the non-finite guard behave the same for every
objective.

To add an objective: a pydantic config model with a ``name: Literal['<name>'] = '<name>'`` tag and a class
implementing :class:`Objective`, decorated with ``@register_objective('<name>', ConfigModel)``. The
``objective`` section of :class:`~srkit.train.config.TrainConfig` accepts the config of every registered
objective (register before the first configuration is validated).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar, Union, runtime_checkable

import torch
from pydantic import BaseModel, Discriminator, Tag
from torch import nn

from srkit.errors import ConfigError

if TYPE_CHECKING:
    from srkit.train.config import TrainConfig

Batch = dict[str, Any]

#: The objective of a configuration without ``objective.name``.
DEFAULT_OBJECTIVE = "pixel"


@dataclass(frozen=True)
class StepContext:
    """What an objective may use of the training run (built by the engine, given to ``setup``).

    Attributes:
        model: the network to call in training (wrapped in DistributedDataParallel when distributed).
        raw_model: the bare network (parameters, optimiser construction, :func:`srkit.archs.net_info`).
        config: the whole training configuration.
        device: where the network and the batches are.
        total_steps: ``train.steps``.
        world_size: the number of processes (1 when not distributed).
        autocast: ``with ctx.autocast(): ...`` runs the forward pass in the configured precision.
        backward: ``ctx.backward(loss)``, through the fp16 scaler when there is one.
        optimizer_step: ``ctx.optimizer_step(optimizer)``: unscale, clip to ``train.grad_clip``, check
            that the gradients are finite (a :class:`~srkit.train.engine.NonFiniteError` naming the step),
            step, zero the gradients; returns the global gradient norm before clipping.
        prepare_module: ``ctx.prepare_module(net, find_unused_parameters=False)``: another trainable
            network (a discriminator) on the device in the configured memory format, wrapped for
            DistributedDataParallel when distributed; build its optimiser from the unwrapped ``net`` and
            keep its weights in the objective's ``state_dict``.
    """

    model: nn.Module
    raw_model: nn.Module
    config: TrainConfig
    device: torch.device
    total_steps: int
    world_size: int
    autocast: Callable[[], contextlib.AbstractContextManager]
    backward: Callable[[torch.Tensor], None]
    optimizer_step: Callable[[torch.optim.Optimizer], float]
    prepare_module: Callable[..., nn.Module]


@runtime_checkable
class Objective(Protocol):
    """One training step, with its optimisers and state (see the module docstring)."""

    name: str

    def setup(self, ctx: StepContext) -> None:
        """Build losses, optimisers and schedulers for the run (called once, before any resume)."""
        ...

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        """One update on ``batch`` (``'lr'``, ``'hr'`` on the device, ``'group'``, ``'index'``); ``step`` is
        the 0-based index of this step. Returns values to log; ``'loss'`` is required."""
        ...

    def learning_rates(self) -> dict[str, float]:
        """Current learning rates to log, e.g. ``{'lr': 1e-4}``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors, numbers, strings, lists, dicts only)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (called after :meth:`setup`)."""
        ...


@dataclass(frozen=True)
class RegisteredObjective:
    """An entry of :data:`OBJECTIVES`: the objective class and its config model."""

    name: str
    objective: Callable[[Any], Objective]
    config: type[BaseModel]


#: Objective name -> its class and config model, filled by :func:`register_objective` (the only list of
#: objectives).
OBJECTIVES: dict[str, RegisteredObjective] = {}

_O = TypeVar("_O", bound=type[Any])


def register_objective(name: str, config_model: type[BaseModel]) -> Callable[[_O], _O]:
    """Class decorator: register an objective as ``objective.name: <name>``, configured by
    ``config_model`` (whose ``name`` field must default to ``name``); sets the class's ``name``."""

    def register(cls: _O) -> _O:
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} is already registered ({OBJECTIVES[name].objective})")
        field = config_model.model_fields.get("name")
        if field is None or field.default != name:
            raise ValueError(f"{config_model.__name__} needs a field name: Literal[{name!r}] = {name!r}")
        cls.name = name
        OBJECTIVES[name] = RegisteredObjective(name, cls, config_model)
        return cls

    return register


def _objective_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return value.get("name", DEFAULT_OBJECTIVE)
    return getattr(value, "name", None)


def objective_config_union() -> Any:
    """The config models of every registered objective as one pydantic union tagged by ``name``."""
    members = tuple(Annotated[entry.config, Tag(name)] for name, entry in OBJECTIVES.items())
    return Annotated[Union[members], Discriminator(_objective_tag)]  # noqa: UP007 - built at run time


def default_objective_config() -> Any:
    """The config of :data:`DEFAULT_OBJECTIVE` with its defaults."""
    return OBJECTIVES[DEFAULT_OBJECTIVE].config()


def build_objective(cfg: Any) -> Objective:
    """The objective for a validated objective config (its ``name`` selects the class)."""
    entry = OBJECTIVES.get(cfg.name)
    if entry is None:
        raise ConfigError(f"objective.name: unknown objective {cfg.name!r}; valid: {', '.join(OBJECTIVES)}")
    return entry.objective(cfg)
