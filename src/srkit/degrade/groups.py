"""Named degradation groups: the HR -> LR pipelines that robustness tables and Group-DRO training
are stratified by.

Convention followed: the standard SR benchmark protocol (HR mod-cropped to a multiple of the scale,
LR = MATLAB ``imresize(HR, 1/scale, kernel)``), with one group per resize kernel of
:mod:`srkit.degrade.resize`. A group may carry extra ``steps`` (blur, noise, JPEG, ... later) that
run on the LR after resizing; the built-in groups have none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from srkit.degrade.resize import get_kernel, resize
from srkit.errors import ConfigError


class DegradationStep(Protocol):
    """An extra degradation applied to the LR after resizing.

    It receives the LR tensor (``uint8`` or float in ``[0, 1]``, shape ``(..., H, W)``) and must return
    a tensor of the same dtype; float results are clamped to ``[0, 1]`` afterwards by the group.
    """

    def __call__(self, lr: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class DegradationGroup:
    """One named HR -> LR degradation: a MATLAB-style resize with ``kernel``, then ``steps`` in order."""

    name: str
    kernel: str
    description: str
    steps: tuple[DegradationStep, ...] = ()

    def __post_init__(self) -> None:
        get_kernel(self.kernel)

    def degrade(self, hr: torch.Tensor, scale: int) -> torch.Tensor:
        """LR from ``hr`` (``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)``, already mod-cropped).

        ``uint8`` in -> ``uint8`` out (MATLAB uint8 rounding after each pass); float in -> same float
        dtype out, clamped to ``[0, 1]``. ``H`` and ``W`` must be multiples of ``scale`` (see
        :func:`srkit.degrade.resize.mod_crop`), so that the LR is exactly ``H / scale`` by ``W / scale``.
        """
        check_scale(scale)
        h, w = int(hr.shape[-2]), int(hr.shape[-1])
        if h % scale or w % scale:
            raise ConfigError(
                f"scale: HR size {h}x{w} is not a multiple of scale {scale}; mod_crop the HR first"
            )
        lr = resize(hr, 1.0 / scale, kernel=self.kernel)
        for step in self.steps:
            lr = step(lr)
        return lr if lr.dtype == torch.uint8 else lr.clamp(0.0, 1.0)


def check_scale(scale: int) -> None:
    """Raise :class:`ConfigError` unless ``scale`` is an integer >= 1."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale: degradation scale must be an integer >= 1, got {scale!r}")


GROUPS: dict[str, DegradationGroup] = {
    "bicubic": DegradationGroup(
        "bicubic",
        "bicubic",
        "MATLAB imresize bicubic (Keys a=-0.5, antialiased): the standard SR benchmark LR",
    ),
    "bilinear": DegradationGroup(
        "bilinear", "bilinear", "MATLAB-style bilinear (triangle kernel, antialiased)"
    ),
    "nearest": DegradationGroup("nearest", "nearest", "nearest neighbour (no antialiasing, aliased LR)"),
    "area": DegradationGroup(
        "area", "area", "area averaging (antialiased box: block mean for integer scales)"
    ),
    "lanczos3": DegradationGroup("lanczos3", "lanczos3", "Lanczos a=3 (antialiased), sharper than bicubic"),
}


def get_group(name: str) -> DegradationGroup:
    """The group called ``name``; :class:`ConfigError` naming it and listing the valid names."""
    try:
        return GROUPS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"degradation: unknown degradation group {name!r}; valid groups: {', '.join(GROUPS)}"
        ) from None


def parse_groups(spec: str | Sequence[str]) -> list[DegradationGroup]:
    """Groups from ``"bicubic,bilinear"``, a list of names, or ``"all"`` (every group, in
    :data:`GROUPS` order). Names are stripped and lower-cased; empty specs, duplicates and ``all``
    mixed with other names raise :class:`ConfigError`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip().lower() for item in items]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(
            f"degradation: no degradation group given in {spec!r}; valid groups: all, {', '.join(GROUPS)}"
        )
    if "all" in names:
        if len(names) > 1:
            raise ConfigError(f"degradation: 'all' cannot be combined with other groups in {spec!r}")
        return list(GROUPS.values())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"degradation: duplicate degradation group(s) {', '.join(duplicates)} in {spec!r}")
    return [get_group(n) for n in names]
