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

from pathlib import Path

import torch

from srkit.archs import InterpolationUpscaler, Runner, load_network, make_runner
from srkit.catalogue import find_published
from srkit.degrade import KERNELS
from srkit.errors import ConfigError
from srkit.io.safe_load import CHECKPOINT_SUFFIXES
from srkit.models import find_model


def load_upscaler(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    precision: str = "auto",
    download: bool = True,
) -> InterpolationUpscaler | Runner:
    """Resolve ``--model`` to an upscaler.

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
        return make_runner(load_network(weights), name=key, device=device, precision=precision, optimize=True)
    if not named and path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        accepted = (
            f"an interpolation baseline ({', '.join(KERNELS)}), a named or published model (srkit models) "
            f"or a path to a weights file ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
        if path.is_file():
            raise ConfigError(
                f"{text}: unsupported model file type {path.suffix or '(none)'!r}; accepted: {accepted}"
            )
        raise ConfigError(f"model: unknown model {text!r}; accepted: {accepted}")
    model = load_network(text)
    name = key if named else path.stem
    return make_runner(model, name=name, device=device, precision=precision, optimize=True)
