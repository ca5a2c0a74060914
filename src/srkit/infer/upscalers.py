"""``--model`` -> an upscaler: anything that maps a low-resolution image to a high-resolution one.

An upscaler takes a float tensor ``(B, C, h, w)`` with values in [0, 1] and an integer scale and returns
``(B, C, s*h, s*w)``. ``srkit eval`` and ``srkit upscale`` only talk to this interface, so interpolation
baselines and trained networks are measured the same way.

- :class:`srkit.archs.InterpolationUpscaler`: MATLAB-exact interpolation baselines (bicubic, ...).
- :class:`srkit.archs.Runner`: any registered network (colour space, padding, precision; the one LR->SR
  path, see :mod:`srkit.archs.runner`).

:func:`load_upscaler` resolves what ``srkit eval --model`` and ``srkit upscale --model`` accept; a name
from the catalogue of published weights (:mod:`srkit.catalogue`) is pulled into the cache the first time
(:func:`srkit.infer.zoo.pull`) and read from there afterwards.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from srkit.archs import InterpolationUpscaler, Runner, load_network, make_runner
from srkit.catalogue import find_published
from srkit.degrade import KERNELS
from srkit.errors import ConfigError, SrkitError
from srkit.io.safe_load import CHECKPOINT_SUFFIXES
from srkit.models import find_model


def load_upscaler(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    precision: str = "auto",
    download: bool = True,
    compile: bool = False,
) -> InterpolationUpscaler | Runner:
    r"""Resolve ``--model`` to an upscaler (``compile``: the network's runner also ``torch.compile``\ s
    it, :class:`srkit.archs.Runner`; ``--compile``).

    Accepted, in this order:

    1. an interpolation baseline, named after its kernel (``bicubic``, ``bilinear``, ``nearest``,
       ``area``, ``lanczos3``);
    2. a named model of :data:`srkit.models.MODELS` (e.g. ``edsr-baseline-x4``) or a checkpoint file
       (:func:`srkit.archs.load_network`) -> the network's runner, named after the model or the file
       stem, on ``device`` with ``precision``, free to rewrite the network it owns for speed
       (``optimize=True``, :mod:`srkit.archs.speed`);
    3. a published model of :data:`srkit.catalogue.PUBLISHED` (e.g. ``span-ch28-ntire24-x4``): its
       converted weights in the cache, pulled (downloaded, verified, converted) first when absent and
       ``download`` is true (``--no-download``: false; the error then names the URL and the cache path).

    Raises:
        SrkitError: one line: a weight file that cannot be loaded (naming the file and why), or
            anything else (listing what is accepted).
    """
    text = str(name_or_path).strip()
    key = text.lower()
    if key in KERNELS:
        return InterpolationUpscaler(key)
    named = find_model(key) is not None
    path = Path(text).expanduser()
    if not named and find_published(key) is not None:
        from srkit.infer.zoo import pull  # import-time cost: only when a published model is asked for

        weights = pull(key, download=download)
        net = load_network(weights)
        return make_runner(net, name=key, device=device, precision=precision, optimize=True, compile=compile)
    if not named and path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        accepted = (
            f"an interpolation baseline ({', '.join(KERNELS)}), a named or published model (srkit models) "
            f"or a path to a weights file ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
        if path.is_file():
            raise ConfigError(
                f"{text}: unsupported model file type {path.suffix or '(none)'!r}; accepted: {accepted}"
            )
        from srkit.catalogue import PUBLISHED
        from srkit.models import MODELS

        raise ConfigError(
            f"model: unknown model {text!r}; named models: {', '.join(MODELS)}; {len(PUBLISHED)} published "
            f"models (`srkit models`); accepted: {accepted}"
        )
    model = load_network(text)
    name = key if named else path.stem
    return make_runner(model, name=name, device=device, precision=precision, optimize=True, compile=compile)


class ChainedUpscaler:
    """Upscalers run one after another, each by its own factor: ``x8`` as ``x4`` then ``x2``, or one
    network twice (``x16`` = ``x4`` twice). Implements the upscaler interface for the product of the
    factors only; tiles of ``srkit upscale`` go through the whole chain."""

    def __init__(self, stages: list[tuple[InterpolationUpscaler | Runner, int]]) -> None:
        if len(stages) < 2:
            raise ConfigError("a chain of upscalers needs at least two stages")
        self.stages = stages

    @property
    def name(self) -> str:
        return "+".join(up.name for up, _ in self.stages)

    @property
    def scale(self) -> int:
        total = 1
        for _, factor in self.stages:
            total *= factor
        return total

    def supports_scale(self, scale: int) -> bool:
        return scale == self.scale

    def describe(self) -> str:
        """``x8 = edsr-baseline-x4 (x4), then edsr-baseline-x2 (x2)``."""
        steps = ", then ".join(f"{up.name} (x{factor})" for up, factor in self.stages)
        return f"x{self.scale} = {steps}"

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        if scale != self.scale:
            raise ConfigError(f"model {self.name}: upscales by x{self.scale} only, not x{scale}")
        for upscaler, factor in self.stages:
            lr = upscaler(lr, factor)
        return lr


def chain_factors(scale: int, first: int, available: set[int]) -> list[int] | None:
    """``scale`` as ``first`` times factors from ``available``, largest first (``8, 4, {2, 4}`` ->
    ``[4, 2]``; ``16, 4, {4}`` -> ``[4, 4]``), or ``None`` when it does not factor so."""
    if first < 2 or scale % first:
        return None
    factors, rest = [first], scale // first
    while rest > 1:
        fits = [f for f in sorted(available, reverse=True) if f > 1 and rest % f == 0]
        if not fits:
            return None
        factors.append(fits[0])
        rest //= fits[0]
    return factors


def _siblings(name: str | None) -> dict[int, str]:
    """Scale -> named model of the same family and training data as the named model ``name`` (all the
    default models when ``name`` is ``None``)."""
    from srkit.models import DEFAULT_MODELS, MODELS

    if name is None:
        return dict(DEFAULT_MODELS)
    card = find_model(name)
    if card is None:
        return {}
    same = [c for c in MODELS.values() if (c.arch, c.training_data) == (card.arch, card.training_data)]
    return {c.scale: c.name for c in same if c.available} | {card.scale: card.name}


def chain_for_scale(
    upscaler: InterpolationUpscaler | Runner,
    scale: int,
    *,
    model: str | None,
    device: str | torch.device = "auto",
    precision: str = "auto",
) -> InterpolationUpscaler | Runner | ChainedUpscaler:
    """``upscaler`` when it serves ``scale``; else a chain reaching ``scale``: the named models of its
    family (no ``model``: srkit's default models) for the factors, the first being ``upscaler``'s own
    (``x8`` with ``edsr-baseline-x4``: it, then ``edsr-baseline-x2``), or else ``upscaler`` run as many
    times as its factor divides ``scale`` exactly (``x16`` with any ``x4`` network).

    Raises:
        ConfigError: ``scale`` is not reachable, naming what is.
    """
    if upscaler.supports_scale(scale) or not isinstance(upscaler, Runner):
        return upscaler
    own = upscaler.scale
    family = _siblings(model)
    factors = chain_factors(scale, own, set(family))
    if factors is not None and len(factors) > 1:
        stages: list[tuple[InterpolationUpscaler | Runner, int]] = [(upscaler, own)]
        for factor in factors[1:]:
            if factor == own:
                stages.append((upscaler, own))
            else:
                other = load_upscaler(family[factor], device=device, precision=precision)
                stages.append((other, factor))
        return ChainedUpscaler(stages)
    repeat = chain_factors(scale, own, {own})
    if repeat is not None:
        return ChainedUpscaler([(upscaler, own)] * len(repeat))
    reach = sorted({own**k for k in (2, 3)} | {own * f for f in family if f > 1})
    raise ConfigError(
        f"scale: model {upscaler.name} upscales by x{own}, not x{scale} (chained it reaches "
        f"{', '.join(f'x{r}' for r in reach)}; --outscale {scale} resizes its x{own} output instead)"
    )


def describe_model(name_or_path: str | Path, upscaler: InterpolationUpscaler | Runner) -> dict[str, Any]:
    """What ``eval.json`` records of a ``--model``: its kind (``baseline``, ``named``, ``published``,
    ``file``), the weight file with its sha256 (and, for srkit weight files, their metadata: arch,
    hyper-parameters, scale, training provenance), the catalogue URL of a published model, and the
    runner's architecture, device and precision."""
    from srkit.io.download import sha256_file  # import-time cost: hashing only when eval records it

    text = str(name_or_path).strip()
    key = text.lower()
    record: dict[str, Any] = {"given": text}
    if isinstance(upscaler, InterpolationUpscaler):
        return record | {
            "kind": "baseline",
            "kernel": upscaler.kernel,
            "convention": "MATLAB imresize, uint8",
        }
    card = find_model(key)
    published = find_published(key) if card is None else None
    if card is not None:
        record |= {"kind": "named", "recipe": card.recipe}
        path: Path | None = card.path
    elif published is not None:
        record |= {"kind": "published", "url": published.url, "verification": published.verification}
        path = published.weights_path
    else:
        record["kind"] = "file"
        path = Path(text).expanduser()
    if path is not None and path.is_file():
        record |= {"file": str(path.resolve()), "sha256": sha256_file(path), "bytes": path.stat().st_size}
        record |= _weights_metadata(path)
    options = getattr(upscaler, "options", None)  # iterative runners (SR3): the sampling options
    is_record = dataclasses.is_dataclass(options) and not isinstance(options, type)
    sampling = {"sampling": dataclasses.asdict(options)} if is_record else {}  # type: ignore[arg-type]
    return record | {
        "arch": upscaler.info.arch,
        "device": str(upscaler.device),
        "precision": upscaler.precision,
        "compiled": upscaler.compiled is not None,
        "luma_scored": upscaler.info.color == "y",
        **sampling,
    }


def _weights_metadata(path: Path) -> dict[str, Any]:
    """``{"metadata": {arch, hparams, scale, extra}}`` of an srkit weight file, else nothing."""
    if path.suffix.lower() != ".safetensors":
        return {}
    from srkit.io.checkpoint import read_weights_meta

    try:
        meta = read_weights_meta(path)
    except SrkitError:  # a third-party safetensors file without srkit's metadata
        return {}
    return {
        "metadata": {"arch": meta.arch, "hparams": meta.hparams, "scale": meta.scale, "extra": meta.extra}
    }
