"""Named degradation groups: the HR -> LR pipelines that robustness tables and Group-DRO training
are stratified by.

Convention followed: the standard SR benchmark protocol (HR mod-cropped to a multiple of the scale,
LR = MATLAB ``imresize(HR, 1/scale, kernel)``), with one group per resize kernel of
:mod:`srkit.degrade.resize` (:data:`GROUPS`, what ``all`` selects).

Beyond kernels, a group may blur the HR before resizing and add noise and JPEG compression after it
(:mod:`srkit.degrade.real`), every parameter fixed and named: ``blur1.6`` (isotropic Gaussian,
sigma 1.6 HR pixels, then bicubic), ``blur2x0.5a45`` (anisotropic: sigmas 2 and 0.5, first axis at 45
degrees), ``noise10`` (bicubic, then Gaussian noise of sigma 10 on 0..255), ``jpeg50`` (bicubic, then
JPEG quality 50), and any combination joined by ``+`` with an optional kernel (``blur1.6+noise10``,
``nearest+jpeg30``); the parts always run in the order blur, resize, noise, JPEG, and the name is
written in that order. ``real`` selects :data:`REAL_GROUPS`, the common conditions of the real-world SR
literature. The LR of an image under a group is a pure function of ``(image, group, seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from srkit.degrade.real import AddNoise, GaussianBlur, JpegRoundTrip, parse_component, seeded_generator
from srkit.degrade.resize import KERNELS, get_kernel, resize
from srkit.errors import ConfigError


class DegradationStep(Protocol):
    """An extra degradation applied to the LR after resizing.

    It receives the LR tensor (``uint8`` or float in ``[0, 1]``, shape ``(..., H, W)``) and the group's
    seeded generator (the only source of randomness allowed), and must return a tensor of the same
    dtype; float results are clamped to ``[0, 1]`` afterwards by the group.
    """

    def __call__(self, lr: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class DegradationGroup:
    """One named HR -> LR degradation: an optional ``blur`` of the HR, a MATLAB-style resize with
    ``kernel``, then ``steps`` in order."""

    name: str
    kernel: str
    description: str
    steps: tuple[DegradationStep, ...] = ()
    blur: GaussianBlur | None = None

    def __post_init__(self) -> None:
        get_kernel(self.kernel)

    @property
    def random(self) -> bool:
        """Whether the group draws random numbers (noise), i.e. depends on the seed."""
        return any(isinstance(step, AddNoise) for step in self.steps)

    def extra_context(self, scale: int) -> int:
        """LR pixels the group's blur adds to the margin a window of the LR needs for its pixels to equal
        the whole image's (``ceil(radius / scale)``; 0 without a blur; see
        :func:`srkit.data.train.degrade_window`)."""
        return 0 if self.blur is None else math.ceil(self.blur.radius / scale)

    def degrade(self, hr: torch.Tensor, scale: int, seed: int = 0) -> torch.Tensor:
        """LR from ``hr`` (``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)``, already mod-cropped).

        ``uint8`` in -> ``uint8`` out (MATLAB uint8 rounding after each pass); float in -> same float
        dtype out, clamped to ``[0, 1]``. ``H`` and ``W`` must be multiples of ``scale`` (see
        :func:`srkit.degrade.resize.mod_crop`), so that the LR is exactly ``H / scale`` by ``W / scale``.
        ``seed`` (with the group's name and the image's bytes) seeds the group's random steps.
        """
        check_scale(scale)
        h, w = int(hr.shape[-2]), int(hr.shape[-1])
        if h % scale or w % scale:
            raise ConfigError(
                f"scale: HR size {h}x{w} is not a multiple of scale {scale}; mod_crop the HR first"
            )
        generator = seeded_generator(self.name, seed, hr) if self.random else torch.Generator()
        source = hr if self.blur is None else self.blur(hr)
        lr = resize(source, 1.0 / scale, kernel=self.kernel)
        for step in self.steps:
            lr = step(lr, generator)
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


#: ``real``: the common fixed conditions of the real-world SR literature (blur, noise, JPEG and the
#: usual combinations), each after bicubic downscaling.
REAL_GROUPS: tuple[str, ...] = (
    "blur1.6",
    "blur2x0.5a45",
    "noise10",
    "jpeg50",
    "blur1.6+noise10",
    "noise10+jpeg50",
    "blur1.6+noise10+jpeg50",
)


def _describe(blur: GaussianBlur | None, kernel: str, steps: Sequence[object]) -> str:
    parts = []
    if blur is not None:
        shape = (
            f"isotropic sigma {blur.sigma_1:g}"
            if blur.sigma_2 is None
            else f"anisotropic sigmas {blur.sigma_1:g}/{blur.sigma_2:g} at {blur.angle:g} deg"
        )
        parts.append(f"Gaussian blur ({shape}, {2 * blur.radius + 1}x{2 * blur.radius + 1})")
    parts.append(f"{kernel} downscale")
    for step in steps:
        if isinstance(step, AddNoise):
            parts.append(f"Gaussian noise sigma {step.sigma:g}/255")
        elif isinstance(step, JpegRoundTrip):
            parts.append(f"JPEG quality {step.quality}")
    return ", then ".join(parts)


_COMPOSED_HELP = "or blurS, blurS1xS2aDEG, noiseS, jpegQ joined by '+' (e.g. blur1.6+noise10)"


def _parts(name: str) -> dict[str, object]:
    """The parts of a composed name by kind (``kernel``, ``blur``, ``noise``, ``jpeg``)."""
    found: dict[str, object] = {}
    for part in (p.strip() for p in name.split("+")):
        step = parse_component(part)
        value: object = part if part in KERNELS else step
        kind = "kernel" if part in KERNELS else step.kind if step is not None else ""
        if not kind:
            raise ConfigError(
                f"degradation: unknown degradation group {name!r} (part {part!r}); valid groups: "
                f"{', '.join(GROUPS)}, {_COMPOSED_HELP}"
            )
        if kind in found:
            raise ConfigError(f"degradation: {name!r} has two {kind} parts")
        found[kind] = value
    return found


def compose_group(name: str) -> DegradationGroup:
    """The group of a composed name (``blur1.6+noise10``; see the module docstring), canonically named:
    blur, the kernel (left out when bicubic and something else is named), noise, JPEG.

    Raises:
        ConfigError: an unknown part, a repeated kind of part, or an out-of-range parameter.
    """
    parts = _parts(name)
    kernel = str(parts.get("kernel", "bicubic"))
    blur = parts.get("blur")
    assert blur is None or isinstance(blur, GaussianBlur)
    steps = tuple(
        p for p in (parts.get("noise"), parts.get("jpeg")) if isinstance(p, AddNoise | JpegRoundTrip)
    )
    names = [blur.name] if blur is not None else []
    if kernel != "bicubic" or not names + list(steps):
        names.append(kernel)
    names += [step.name for step in steps]
    return DegradationGroup("+".join(names), kernel, _describe(blur, kernel, steps), steps=steps, blur=blur)


def get_group(name: str) -> DegradationGroup:
    """The group called ``name`` (a kernel of :data:`GROUPS` or a composed name, see the module
    docstring); :class:`ConfigError` naming it and listing the valid names."""
    if not isinstance(name, str):
        raise ConfigError(
            f"degradation: unknown degradation group {name!r}; valid groups: {', '.join(GROUPS)}"
        )
    key = name.strip().lower()
    if key in GROUPS:
        return GROUPS[key]
    return compose_group(key)


def parse_groups(spec: str | Sequence[str]) -> list[DegradationGroup]:
    """Groups from ``"bicubic,bilinear"``, a list of names, ``"all"`` (every kernel group, in
    :data:`GROUPS` order) or ``"real"`` (:data:`REAL_GROUPS`). Names are stripped and lower-cased; empty
    specs, duplicates (after canonical naming) and ``all``/``real`` mixed with other names raise
    :class:`ConfigError`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip().lower() for item in items]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(
            f"degradation: no degradation group given in {spec!r}; valid groups: all, real, "
            f"{', '.join(GROUPS)}, {_COMPOSED_HELP}"
        )
    for preset, members in (("all", tuple(GROUPS)), ("real", REAL_GROUPS)):
        if preset in names:
            if len(names) > 1:
                raise ConfigError(f"degradation: '{preset}' cannot be combined with other groups in {spec!r}")
            return [get_group(n) for n in members]
    groups = [get_group(n) for n in names]
    canonical = [g.name for g in groups]
    duplicates = sorted({n for n in canonical if canonical.count(n) > 1})
    if duplicates:
        raise ConfigError(f"degradation: duplicate degradation group(s) {', '.join(duplicates)} in {spec!r}")
    return groups
