"""``data``: training patches and validation sets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from srkit.data.augment import AugmentConfig
from srkit.degrade import get_group
from srkit.errors import ConfigError
from srkit.train.sections import Section, SubKeyError


class GroupConfig(Section):
    """A degradation group (a kernel of :data:`srkit.degrade.GROUPS` or a composed name such as
    ``blur1.6+noise10``, kept in its canonical spelling) and its sampling weight."""

    name: str
    weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _known_group(cls, name: str) -> str:
        try:
            return get_group(name).name
        except ConfigError as err:
            raise ValueError(str(err)) from None


class AugmentSection(Section):
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

    def to_augment_config(self) -> AugmentConfig:
        """The data pipeline's :class:`~srkit.data.augment.AugmentConfig`."""
        return AugmentConfig(**self.model_dump())


class TrainDataConfig(Section):
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


class ValDataConfig(Section):
    """Validation (:class:`srkit.data.train.ValDataset`, batch 1, on rank 0).

    ``datasets``: benchmark names or folders (empty: no validation); ``groups``: degradation groups
    that make the LR images (each dataset is measured once per group, reported as ``set/group`` when
    there are several); ``every``: steps between validations (and always at the last step);
    ``center_crop``: HR pixels kept around the centre of each image (faster); ``crop_border``: pixels
    shaved before measuring (default: the scale); ``holdout``: carve this many images out of
    ``data.train.hr`` (every k-th of the sorted files, :func:`srkit.data.train.holdout_files`) as a
    validation set named ``holdout`` that is never trained on, so that model selection (``best_metric``)
    does not look at a test set.
    """

    datasets: list[str] = Field(default_factory=list)
    holdout: int = Field(0, ge=0)
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


class DataConfig(Section):
    """``train`` patches and ``val`` sets."""

    train: TrainDataConfig
    val: ValDataConfig = Field(default_factory=ValDataConfig)
