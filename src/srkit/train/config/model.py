"""``model``: the network to train and the weights it starts from."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from srkit.archs import model_names, resolve
from srkit.errors import ConfigError
from srkit.train.sections import Section, SubKeyError


class ModelConfig(Section):
    """The network: an arch or preset name of :func:`srkit.archs.build_model` and hyper-parameters
    overriding the preset's. ``scale`` comes from the top-level ``scale`` and may not be set here.
    Names and keys are checked here; values (e.g. a scale the arch does not support) when the network is
    built, at the start of training (:func:`srkit.train.network.build_network`).

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
        if self.arch.strip().lower() not in model_names():
            raise SubKeyError("arch", f"unknown model {self.arch!r}; valid: {', '.join(model_names())}")
        if "scale" in self.hparams:
            raise SubKeyError("hparams.scale", "set the top-level 'scale' instead")
        try:
            resolve(self.arch, **self.hparams)
        except ConfigError as err:
            raise SubKeyError("hparams", str(err)) from None
        return self
