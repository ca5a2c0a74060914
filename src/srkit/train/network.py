"""The network to train: built from ``model`` (and the top-level ``scale``), with the weights of
``model.init`` loaded into it."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from srkit.archs import build_model, check_state_dict, resolve, takes_scale
from srkit.errors import ConfigError, SrkitError
from srkit.io.safe_load import load_state_dict_any
from srkit.train.config import TrainConfig


def build_network(config: TrainConfig) -> nn.Module:
    """The configured network; a hyper-parameter value it rejects is a ConfigError naming ``model``.

    The top-level ``scale`` is passed to architectures whose constructor takes one; the others (VDSR,
    on the upsampled image) must serve that scale by their NetInfo."""
    hparams = dict(config.model.hparams)
    try:
        arch, _ = resolve(config.model.arch)
        if takes_scale(arch):
            hparams["scale"] = config.scale
        model = build_model(config.model.arch, **hparams)
    except ConfigError as err:
        raise ConfigError(f"model: {err}") from None
    info = model.info
    if not info.supports_scale(config.scale):
        raise ConfigError(f"scale: {info.arch} upscales by {info.scales_text()}, not x{config.scale}")
    return model


def load_init_weights(model: nn.Module, path: str | Path, strict: bool = True) -> tuple[int, list[str]]:
    """Load the weight file ``path`` (``model.init``) into ``model``; returns the number of tensors
    loaded and the names of the network's tensors left as they were.

    Strict: every name and shape must match (a one-line error naming the file and the first mismatch).
    Not strict: tensors whose name and shape match are loaded, the others kept -- at least half of the
    network's tensors must match, else the file is taken to be the wrong network."""
    try:
        state = load_state_dict_any(path)
    except SrkitError as err:
        raise ConfigError(f"model.init: {err}") from None
    if strict:
        try:
            check_state_dict(path, model, state)
        except SrkitError as err:
            raise ConfigError(
                f"model.init: {err} (set model.init_strict: false to load what matches)"
            ) from None
        model.load_state_dict(state, strict=True)
        return len(state), []
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if len(usable) * 2 < len(own):
        raise ConfigError(
            f"model.init: {path}: only {len(usable)} of the network's {len(own)} tensors match by name and "
            "shape; is it the same architecture?"
        )
    model.load_state_dict(usable, strict=False)
    return len(usable), [k for k in own if k not in usable]
