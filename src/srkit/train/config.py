"""The typed training configuration: YAML -> pydantic models, ``--set`` overrides, one-line errors.

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

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from srkit.errors import ConfigError

# --------------------------------------------------------------------------------------------------
# Errors that name a key below the model that raised them
# --------------------------------------------------------------------------------------------------


class SubKeyError(ValueError):
    """A validation failure of the sub-key ``key`` raised from a model-level validator; the formatter
    appends ``key`` to the model's location so the message names ``section.key``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class _Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are re-validated on
    assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------------


class ModelConfig(_Section):
    """The network: an arch or preset name of :func:`srkit.archs.build_model` and hyper-parameters
    overriding the preset's. ``scale`` comes from the top-level ``scale`` and may not be set here.
    Names and keys are checked here; values (e.g. a scale the arch does not support) when the network is
    built, at the start of training (:func:`srkit.train.engine.build_network`).

    ``init``: a weight file (srkit safetensors, or any checkpoint that
    :func:`srkit.io.checkpoint.load_state_dict_any` reads) loaded into the network before the first step
    -- PSNR pre-training for a GAN stage, or the x2 network as the start of x3/x4 (EDSR, Lim et al. 2017,
    sec. 4.2). With ``init_strict: false`` the tensors whose name or shape does not match (the upsampler
    of another scale) keep their initial values; at least half of the network's tensors must load.
    Ignored when a run is resumed (the state file holds the weights).
    """

    arch: str
    hparams: dict[str, Any] = Field(default_factory=dict)
    init: str | None = None
    init_strict: bool = True

    @model_validator(mode="after")
    def _known(self) -> ModelConfig:
        from srkit.archs import model_names, resolve

        if self.arch.strip().lower() not in model_names():
            raise SubKeyError("arch", f"unknown model {self.arch!r}; valid: {', '.join(model_names())}")
        if "scale" in self.hparams:
            raise SubKeyError("hparams.scale", "set the top-level 'scale' instead")
        try:
            resolve(self.arch, **self.hparams)
        except ConfigError as err:
            raise SubKeyError("hparams", str(err)) from None
        return self


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------


class GroupConfig(_Section):
    """A degradation group (a name of :data:`srkit.degrade.GROUPS`) and its sampling weight."""

    name: str
    weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _known_group(cls, name: str) -> str:
        from srkit.degrade import get_group

        try:
            get_group(name)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return name


class AugmentSection(_Section):
    """Mirror of :class:`srkit.data.augment.AugmentConfig` (same keys and defaults)."""

    hflip: bool = True
    vflip: bool = True
    transpose: bool = True
    jpeg: bool = False
    jpeg_prob: float = Field(0.25, ge=0.0, le=1.0)
    jpeg_quality: tuple[int, int] = (30, 95)
    dropout: bool = False
    dropout_prob: float = Field(0.25, ge=0.0, le=1.0)
    dropout_holes: tuple[int, int] = (1, 3)
    dropout_size: tuple[float, float] = (0.1, 0.3)
    dropout_fill: Literal["zero", "mean"] = "zero"

    @model_validator(mode="after")
    def _check(self) -> AugmentSection:
        try:
            self.to_augment_config()
        except ConfigError as err:
            text = str(err)
            key, _, message = text.partition(": ")
            raise SubKeyError(key.removeprefix("augment."), message) from None
        return self

    def to_augment_config(self):  # -> AugmentConfig (import kept lazy)
        """The data pipeline's :class:`~srkit.data.augment.AugmentConfig`."""
        from srkit.data.augment import AugmentConfig

        return AugmentConfig(**self.model_dump())


class TrainDataConfig(_Section):
    """Training patches (:class:`srkit.data.train.SRTrainDataset`).

    ``hr``: HR folders; ``lr``: paired LR folders (one per HR folder) or ``null`` to make LR on the fly
    with ``groups``; ``patch_size``: the LR patch side (the HR patch is ``patch_size * scale``);
    ``batch_size``: the global batch (split evenly over distributed processes); ``length``: samples per
    (virtual) epoch, default the number of images; ``balance_groups``: every batch holds every group
    equally often (``batch // groups`` each; the remainder drawn by weight) instead of i.i.d. draws.
    """

    hr: list[str]
    lr: list[str] | None = None
    groups: list[GroupConfig] = Field(default_factory=lambda: [GroupConfig(name="bicubic")])
    balance_groups: bool = False
    patch_size: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    num_workers: int = Field(0, ge=0)
    length: int | None = Field(None, gt=0)
    cache: bool | Literal["auto"] = "auto"
    augment: AugmentSection = Field(default_factory=AugmentSection)

    @field_validator("hr", "lr", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> TrainDataConfig:
        if not self.hr:
            raise SubKeyError("hr", "at least one HR folder is needed")
        if self.lr is not None and len(self.lr) != len(self.hr):
            raise SubKeyError("lr", f"{len(self.lr)} LR folder(s) for {len(self.hr)} HR folder(s)")
        if not self.groups:
            raise SubKeyError("groups", "at least one degradation group is needed")
        if sum(g.weight for g in self.groups) <= 0:
            raise SubKeyError("groups", "the weights must not all be zero")
        if self.balance_groups and self.lr is not None:
            raise SubKeyError("balance_groups", "needs HR-only data (lr: null); paired data has no groups")
        if self.balance_groups and len(self.groups) > self.batch_size:
            raise SubKeyError(
                "balance_groups", f"{len(self.groups)} groups do not fit a batch of {self.batch_size}"
            )
        return self


class ValDataConfig(_Section):
    """Validation (:class:`srkit.data.train.ValDataset`, batch 1, on rank 0).

    ``datasets``: benchmark names or folders (empty: no validation); ``groups``: degradation groups
    that make the LR images (each dataset is measured once per group, reported as ``set/group`` when
    there are several); ``every``: steps between validations (and always at the last step);
    ``center_crop``: HR pixels kept around the centre of each image (faster); ``crop_border``: pixels
    shaved before measuring (default: the scale).
    """

    datasets: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=lambda: ["bicubic"])
    center_crop: int | None = Field(None, gt=0)
    every: int = Field(5000, gt=0)
    y_channel: bool = True
    crop_border: int | None = Field(None, ge=0)

    @field_validator("datasets", "groups", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("at least one degradation group is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"groups repeat: {names}")
        return [GroupConfig._known_group(name) for name in names]


class DataConfig(_Section):
    """``train`` patches and ``val`` sets."""

    train: TrainDataConfig
    val: ValDataConfig = Field(default_factory=ValDataConfig)


# --------------------------------------------------------------------------------------------------
# objective (a tagged union on ``name``: later objectives add a member)
# --------------------------------------------------------------------------------------------------


class LossConfig(_Section):
    """One weighted pixel-loss term. ``eps`` applies to ``charbonnier`` only."""

    type: Literal["l1", "mse", "charbonnier"]
    weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    eps: float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _eps(self) -> LossConfig:
        if self.eps is not None and self.type != "charbonnier":
            raise SubKeyError("eps", f"only charbonnier takes eps, not {self.type}")
        return self


class PixelObjectiveConfig(_Section):
    """``name: pixel``: minimise a weighted sum of pixel losses between SR and HR."""

    name: Literal["pixel"] = "pixel"
    losses: list[LossConfig] = Field(default_factory=lambda: [LossConfig(type="l1")])

    @model_validator(mode="after")
    def _nonempty(self) -> PixelObjectiveConfig:
        if not self.losses:
            raise SubKeyError("losses", "at least one loss term is needed")
        if sum(term.weight for term in self.losses) <= 0:
            raise SubKeyError("losses", "the weights must not all be zero")
        return self


class ERMObjectiveConfig(PixelObjectiveConfig):
    """``name: erm``: empirical risk minimisation over the degradation groups of the training data -- the
    pixel losses averaged over every sample of the batch, whatever its group (with one group: single-group
    training) -- with the per-group losses logged as ``group_dro`` logs them, for comparison."""

    name: Literal["erm"] = "erm"  # type: ignore[assignment]


class GroupDROObjectiveConfig(PixelObjectiveConfig):
    """``name: group_dro``: online Group DRO (Sagawa, Koh, Hashimoto, Liang 2019, Algorithm 1).

    Per step: the per-group mean losses ``L_g`` of the batch (all-reduced over processes); group weights
    ``q_g <- q_g * exp(eta * (L_g + adjustment / sqrt(n_g)))``, normalised; the optimised loss is
    ``sum_g q_g * L_g``. ``eta``: the step size of q (the paper's default 0.01 suits cross-entropy
    losses near 1; pixel losses are ~0.03, so SR needs a larger one); ``adjustment``: the paper's
    generalisation adjustment ``C`` (``n_g``: the expected training samples of group g per epoch; with
    equal group weights it shifts every group alike and changes nothing); ``smoothing``: when set,
    ``gamma`` of an exponential moving average of the group losses, which then drive the q update (the
    reference code's ``exp_avg_loss``); a group absent from a batch keeps its last average (or 0
    without smoothing, as in the reference code).
    """

    name: Literal["group_dro"] = "group_dro"  # type: ignore[assignment]
    eta: float = Field(0.01, gt=0.0, allow_inf_nan=False)
    adjustment: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    smoothing: float | None = Field(None, gt=0.0, le=1.0)


class PerceptualConfig(_Section):
    """The GAN objective's VGG feature loss (:class:`srkit.losses.PerceptualLoss`).

    ``layer_weights``: VGG layer -> weight (ESRGAN: ``{conv5_4: 1.0}``, before the activation);
    ``vgg_type``: ``vgg11``/``13``/``16``/``19`` (``_bn`` variants too); ``criterion``: ``l1``, ``l2``,
    ``fro``; ``normalize_loss``: divide by the sum of the layer weights; ``weights``: ``default`` (the
    torchvision ImageNet file in srkit's cache, e.g. ``~/.cache/srkit/weights/vgg19-dcbb9e9d.pth``), a
    file path, or ``null`` (random VGG: only for tests and smoke runs).
    """

    layer_weights: dict[str, float] = Field(default_factory=lambda: {"conv5_4": 1.0})
    vgg_type: Literal["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"] = (
        "vgg19"
    )
    use_input_norm: bool = True
    range_norm: bool = False
    criterion: Literal["l1", "l2", "fro"] = "l1"
    normalize_loss: bool = False
    weights: str | None = "default"

    @model_validator(mode="after")
    def _layers(self) -> PerceptualConfig:
        from srkit.archs.vgg import layer_indices

        valid = layer_indices(self.vgg_type)
        if not self.layer_weights:
            raise SubKeyError("layer_weights", "at least one VGG layer is needed")
        for name, weight in self.layer_weights.items():
            if name not in valid:
                raise SubKeyError(
                    "layer_weights", f"{self.vgg_type} has no layer {name!r}; valid: {', '.join(valid)}"
                )
            if not (math.isfinite(weight) and weight >= 0):
                raise SubKeyError(f"layer_weights.{name}", f"must be finite and >= 0, got {weight}")
        return self


class DiscriminatorConfig(_Section):
    """The GAN objective's discriminator (:data:`srkit.archs.discriminator.DISCRIMINATORS`).

    ``vgg_style`` (ESRGAN's VGG128, BasicSR key names): ``vgg_blk_ch`` widths read in pairs, one pair per
    stage (a 3x3 stride-1 conv then a 4x4 stride-2 conv); ``fc_features``: hidden widths of the head;
    ``input_size``: the side of the HR patches (``null``: ``data.train.patch_size * scale``).
    """

    type: Literal["vgg_style"] = "vgg_style"
    vgg_blk_ch: list[int] = Field(default_factory=lambda: [64, 64, 128, 128, 256, 256, 512, 512, 512, 512])
    fc_features: list[int] = Field(default_factory=lambda: [100])
    input_size: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _widths(self) -> DiscriminatorConfig:
        if not self.vgg_blk_ch or len(self.vgg_blk_ch) % 2 or min(self.vgg_blk_ch) <= 0:
            raise SubKeyError("vgg_blk_ch", f"needs an even number of positive widths, got {self.vgg_blk_ch}")
        if any(w <= 0 for w in self.fc_features):
            raise SubKeyError("fc_features", f"widths must be positive, got {self.fc_features}")
        return self


class GANObjectiveConfig(_Section):
    """``name: gan``: ESRGAN-style adversarial training (Wang et al. 2018; :mod:`srkit.train.gan`).

    Generator loss ``perceptual_weight * L_percep + gan_weight * L_G + pixel_weight * L_pixel``;
    ``gan_type``: ``ragan`` (relativistic average, ESRGAN), ``vanilla``, ``hinge``, ``lsgan``. The
    generator uses the top-level ``optim``/``schedule``, the discriminator ``d_optim``/``d_schedule``
    (ESRGAN: Adam 1e-4, betas (0.9, 0.99), halved at 50k, 100k, 200k, 300k steps). ``net_d_iters``: the
    generator is updated every ``net_d_iters`` steps, and not during the first ``net_d_init_iters``
    (the discriminator every step). ``find_unused_parameters``: passed to DistributedDataParallel for
    the discriminator.
    """

    name: Literal["gan"] = "gan"
    gan_type: Literal["ragan", "vanilla", "hinge", "lsgan"] = "ragan"
    gan_weight: float = Field(0.005, ge=0.0, allow_inf_nan=False)
    pixel_type: Literal["l1", "mse", "charbonnier"] = "l1"
    pixel_weight: float = Field(0.01, ge=0.0, allow_inf_nan=False)
    perceptual_weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    perceptual: PerceptualConfig = Field(default_factory=PerceptualConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    d_optim: OptimConfig = Field(default_factory=lambda: OptimConfig(lr=1e-4, betas=(0.9, 0.99)))
    d_schedule: ScheduleConfig = Field(
        default_factory=lambda: ScheduleConfig(
            type="multistep", milestones=[50_000, 100_000, 200_000, 300_000], gamma=0.5
        )
    )
    net_d_iters: int = Field(1, gt=0)
    net_d_init_iters: int = Field(0, ge=0)
    find_unused_parameters: bool = False

    @model_validator(mode="after")
    def _some_loss(self) -> GANObjectiveConfig:
        if self.gan_weight + self.pixel_weight + self.perceptual_weight <= 0:
            raise SubKeyError("gan_weight", "the generator loss weights must not all be zero")
        return self


def _objective_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return value.get("name", "pixel")
    return getattr(value, "name", None)


#: Every objective's config, tagged by its ``name``. A new objective adds ``Annotated[Cfg, Tag(name)]``.
ObjectiveConfig = Annotated[
    Union[  # noqa: UP007 - a tagged union grows here
        Annotated[PixelObjectiveConfig, Tag("pixel")],
        Annotated[ERMObjectiveConfig, Tag("erm")],
        Annotated[GroupDROObjectiveConfig, Tag("group_dro")],
        Annotated[GANObjectiveConfig, Tag("gan")],
    ],
    Discriminator(_objective_tag),
]
#: The tags of :data:`ObjectiveConfig` (kept in step with it).
OBJECTIVE_NAMES: tuple[str, ...] = ("pixel", "erm", "group_dro", "gan")


# --------------------------------------------------------------------------------------------------
# optimisation
# --------------------------------------------------------------------------------------------------


class OptimConfig(_Section):
    """Adam or AdamW (decoupled weight decay)."""

    type: Literal["adam", "adamw"] = "adam"
    lr: float = Field(gt=0.0, allow_inf_nan=False)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"each beta must be in [0, 1), got {list(betas)}")
        return betas


ScheduleType = Literal["constant", "step", "multistep", "cosine", "cosine_restarts", "piecewise"]

#: The keys each schedule type uses (besides ``type`` and ``warmup_steps``); the first group is required.
SCHEDULE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": ((), ()),
    "step": (("step_size",), ("gamma",)),
    "multistep": (("milestones",), ("gamma",)),
    "cosine": ((), ("period", "eta_min")),
    "cosine_restarts": (("periods",), ("restart_weights", "eta_min")),
    "piecewise": (("boundaries", "factors"), ()),
}


class ScheduleConfig(_Section):
    """Learning-rate schedule, a factor of ``optim.lr`` per step, after a linear warm-up.

    - ``constant``;
    - ``step``: ``gamma ** (step // step_size)`` (PyTorch ``StepLR``);
    - ``multistep``: ``gamma ** (number of milestones <= step)`` (``MultiStepLR``);
    - ``cosine``: cosine from ``optim.lr`` to ``eta_min`` (an absolute LR) over ``period`` steps
      (default ``train.steps``), then constant;
    - ``cosine_restarts``: consecutive cosine cycles of lengths ``periods``, cycle ``i`` starting at
      ``restart_weights[i] * optim.lr`` (BasicSR ``CosineAnnealingRestartLR``), ``eta_min`` after the last;
    - ``piecewise``: ``factors[i]`` on ``[boundaries[i-1], boundaries[i])``
      (``len(factors) == len(boundaries) + 1``).

    ``warmup_steps``: the factor is multiplied by ``min(1, (step + 1) / warmup_steps)``.
    Setting a key that the chosen type does not use is an error.
    """

    type: ScheduleType = "constant"
    warmup_steps: int = Field(0, ge=0)
    step_size: int | None = Field(None, gt=0)
    gamma: float = Field(0.5, gt=0.0, allow_inf_nan=False)
    milestones: list[int] | None = None
    period: int | None = Field(None, gt=0)
    periods: list[int] | None = None
    restart_weights: list[float] | None = None
    eta_min: float = Field(0.0, ge=0.0)
    boundaries: list[int] | None = None
    factors: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScheduleConfig:
        required, optional = SCHEDULE_KEYS[self.type]
        for key in required:
            if getattr(self, key) is None:
                raise SubKeyError(key, f"required for schedule type {self.type!r}")
        allowed = {"type", "warmup_steps", *required, *optional}
        for key in sorted(self.model_fields_set - allowed):
            if getattr(self, key) != type(self).model_fields[key].default:
                uses = ", ".join(sorted(allowed))
                raise SubKeyError(key, f"not used by schedule type {self.type!r} (it uses: {uses})")
        if self.milestones is not None:
            _check_increasing("milestones", self.milestones)
        if self.boundaries is not None:
            _check_increasing("boundaries", self.boundaries)
            if self.factors is not None and len(self.factors) != len(self.boundaries) + 1:
                raise SubKeyError(
                    "factors",
                    f"needs len(boundaries) + 1 = {len(self.boundaries) + 1} values, got {len(self.factors)}",
                )
        if self.factors is not None and not all(math.isfinite(f) and f >= 0 for f in self.factors):
            raise SubKeyError("factors", f"must be finite and >= 0, got {self.factors}")
        if self.periods is not None:
            if not self.periods or any(p <= 0 for p in self.periods):
                raise SubKeyError(
                    "periods", f"must be a non-empty list of positive integers, got {self.periods}"
                )
            weights = self.restart_weights
            if weights is not None and len(weights) != len(self.periods):
                raise SubKeyError(
                    "restart_weights",
                    f"needs one weight per period ({len(self.periods)}), got {len(weights)}",
                )
        return self


def _check_increasing(key: str, values: Sequence[int]) -> None:
    if not values or any(v <= 0 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise SubKeyError(
            key, f"must be a non-empty, strictly increasing list of positive steps, got {values}"
        )


# --------------------------------------------------------------------------------------------------
# the loop, logging, the whole recipe
# --------------------------------------------------------------------------------------------------


class LoopConfig(_Section):
    """The training loop.

    ``steps``: total optimiser steps; ``grad_clip``: max global L2 norm of the gradients (``null``: no
    clipping); ``ema_decay``: EMA of parameters and buffers (``null``: off; validation and exported
    weights use the EMA when on), with ``ema_warmup`` the decay is ``min(ema_decay, (1+n)/(10+n))``
    after ``n`` updates; ``precision``: ``fp32``, ``bf16`` (autocast, CPU and CUDA) or ``fp16``
    (autocast + GradScaler, CUDA only); ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda``;
    ``threads``: ``torch.set_num_threads`` (``null``: PyTorch's default); ``deterministic``:
    ``torch.use_deterministic_algorithms``; ``log_every``: steps between log records;
    ``checkpoint_every``: steps between training-state saves (``state.pt`` + ``latest.safetensors``);
    ``snapshot_every``: steps between kept ``checkpoints/step_NNNNNNN.safetensors`` (``null``: none);
    ``best_checkpoint_warmup``: ``best.safetensors`` is only considered from this step on;
    ``best_metric``: what ``best.safetensors`` maximises: ``mean_psnr`` over the validation entries
    (sets x groups) or ``worst_psnr``, the lowest of them (early stopping on the worst group, as Group DRO
    recommends, Sagawa et al. 2019).
    """

    steps: int = Field(gt=0)
    grad_clip: float | None = Field(None, gt=0.0)
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0)
    ema_warmup: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, gt=0)
    deterministic: bool = False
    log_every: int = Field(100, gt=0)
    checkpoint_every: int = Field(5000, gt=0)
    snapshot_every: int | None = Field(None, gt=0)
    best_checkpoint_warmup: int = Field(0, ge=0)
    best_metric: Literal["mean_psnr", "worst_psnr"] = "mean_psnr"


class LoggingConfig(_Section):
    """Where metrics go besides ``log.jsonl``/``train.csv``/``val.csv`` (always written).

    ``tensorboard``: ``auto`` (when the ``tensorboard`` package is installed), ``true`` (error when it is
    not), ``false``; ``wandb``: Weights & Biases (``true`` needs the ``wandb`` package);
    ``progress``: tqdm bar ``auto`` (on a TTY), ``true``, ``false``; ``images``: LR/SR/HR of the first
    image of each validation set to TensorBoard/W&B.
    """

    tensorboard: bool | Literal["auto"] = "auto"
    wandb: bool = False
    wandb_project: str = "srkit"
    wandb_entity: str | None = None
    progress: bool | Literal["auto"] = "auto"
    images: bool = True


class TrainConfig(_Section):
    """A whole training recipe (see the module docstring and ``docs/training.md``)."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(0, ge=0)
    scale: int = Field(gt=0)
    model: ModelConfig
    data: DataConfig
    objective: ObjectiveConfig = Field(default_factory=PixelObjectiveConfig)
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

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`srkit.archs.build_model` besides the name."""
        return {**self.model.hparams, "scale": self.scale}


# --------------------------------------------------------------------------------------------------
# loading, overriding, dumping
# --------------------------------------------------------------------------------------------------


def _format_loc(loc: Sequence[str | int], err: Mapping[str, Any]) -> str:
    """Dotted key of a pydantic error location, without union tags, plus a :class:`SubKeyError`'s key."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if i == 1 and loc[0] == "objective" and item in OBJECTIVE_NAMES:
            continue  # the tag pydantic inserts for the tagged union
        parts.append(str(item))
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, SubKeyError):
        parts.append(cause.key)
    return ".".join(parts) or "<root>"


def _format_message(err: Mapping[str, Any]) -> str:
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    kind = err.get("type", "")
    if (
        kind not in ("missing", "extra_forbidden")
        and "input" in err
        and not isinstance(err["input"], Mapping)
    ):
        shown = repr(err["input"])
        message = f"{message} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    if kind == "extra_forbidden":
        message = "unknown key"
    return message


def validation_error_message(error: ValidationError, source: str | None = None) -> str:
    """One line for a pydantic :class:`ValidationError`: ``[source: ]dotted.key: message``; when there
    are several errors the first is given and the count of the others."""
    errors = error.errors(include_url=False)
    first = errors[0]
    text = f"{_format_loc(first['loc'], first)}: {_format_message(first)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    text = " ".join(text.split())
    return f"{source}: {text}" if source else text


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, any other value replaces. No aliasing."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; :class:`ConfigError` naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML error{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping, got {type(data).__name__}")
    return data


def read_config_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of ``path`` with its ``extends`` chain merged in (the key itself removed)."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"{path}: extends: cycle {chain}")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: extends: must be a path to another YAML file, got {parent!r}")
    parent_path = (path.parent / parent).expanduser()
    if not parent_path.is_file():
        raise ConfigError(f"{path}: extends: {parent_path} does not exist")
    return deep_merge(read_config_tree(parent_path, (*_seen, resolved)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'a.b.c=value'`` -> ``(['a', 'b', 'c'], value)`` with ``value`` parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. optim.lr=2e-4")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"--set {text}: empty component in key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: cannot parse {raw!r} as a YAML value") from None
    return parts, value


def apply_override(data: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    """Set ``data[parts[0]][parts[1]]... = value`` in place, creating mappings on the way; a numeric
    part indexes into an existing list."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, parts[: depth + 1])]
            continue
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, (dict, list)):
            raise ConfigError(f"{'.'.join(parts[: depth + 1])}: is a value, cannot set {'.'.join(parts)}")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, parts)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, path: Sequence[str]) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"{'.'.join(path)}: index out of range for a list of {len(node)} item(s)")
    return int(part)


def build_config(data: Mapping[str, Any], source: str | None = None) -> TrainConfig:
    """Validate a raw mapping; :class:`ConfigError` with one line naming the key on failure."""
    try:
        return TrainConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(validation_error_message(err, source)) from None
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}" if source else str(err)) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read ``path`` (with ``extends``), apply ``--set`` ``overrides`` in order and validate."""
    data = read_config_tree(path)
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
    return build_config(data, source=str(path))


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain JSON/YAML values of a configuration: every default included except ``null`` ones (every
    key that may be ``null`` defaults to it), so the result validates back to the same configuration."""
    data = config.model_dump(mode="json", exclude_none=True)
    required, optional = SCHEDULE_KEYS[config.schedule.type]
    used = {"type", "warmup_steps", *required, *optional}
    data["schedule"] = {k: v for k, v in data["schedule"].items() if k in used}
    return data


def dump_config(config: TrainConfig) -> str:
    """The resolved configuration as YAML text (keys in schema order)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None, width=110)


def diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two plain configuration trees."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            keys += diff_keys(a.get(key), b.get(key), dotted) if key in a and key in b else [dotted]
        return keys
    return [] if a == b else [prefix or "<root>"]
