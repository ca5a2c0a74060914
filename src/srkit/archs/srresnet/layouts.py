"""MSRResNet (BasicSR's modified SRResNet) checkpoints -> srkit ``msrresnet``.

- **BasicSR** (also srkit's own keys): ``conv_first``, ``body.N.conv1``/``conv2``, ``upconv1``
  (+ ``upconv2`` at x4), ``conv_hr``, ``conv_last``.
- **mmsr** (BasicSR's predecessor): the same network with ``recon_trunk.N`` for ``body.N`` and
  ``HRconv`` for ``conv_hr``.

``num_feat`` = ``conv_first`` output channels, ``num_block`` = residual blocks, ``scale`` = 4 with
``upconv2``, else 2 or 3 from ``upconv1``'s 4x or 9x ``num_feat`` output channels.
"""

from __future__ import annotations

from srkit.archs.layouts import (
    CheckpointFormat,
    Converted,
    Hints,
    StateDict,
    check_run,
    indices,
    rename,
    shape,
    subpixel_factors,
)

BASICSR = "msrresnet-basicsr"
MMSR = "msrresnet-mmsr"


def _from_basicsr_keys(state: StateDict, hints: Hints, layout: str) -> Converted:
    num_feat, in_channels = shape(state, "conv_first.weight", hints, layout)[:2]
    out_channels = shape(state, "conv_last.weight", hints, layout)[0]
    num_block = check_run(hints, layout, indices(state, r"body\.(\d+)\.conv1\.weight"), 0, "residual blocks")
    names = ["upconv1", "upconv2"] if "upconv2.weight" in state else ["upconv1"]
    outs = [shape(state, f"{n}.weight", hints, layout)[0] for n in names]
    factors = subpixel_factors(hints, layout, outs, num_feat, "an upsampling conv")
    scale = 1
    for f in factors:
        scale *= f
    scale = hints.check_scale(layout, scale, f"{len(factors)} sub-pixel stage(s)")
    hparams = {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
        "scale": scale,
    }
    return "msrresnet", hparams, dict(state)


def convert_basicsr(state: StateDict, hints: Hints) -> Converted:
    """BasicSR keys are srkit's: only the hyper-parameters are inferred."""
    return _from_basicsr_keys(state, hints, BASICSR)


def convert_mmsr(state: StateDict, hints: Hints) -> Converted:
    """mmsr keys -> BasicSR keys."""
    renamed = rename(
        state,
        [
            (r"recon_trunk\.(\d+)\.(conv[12])\.(weight|bias)", r"body.\1.\2.\3"),
            (r"HRconv\.(weight|bias)", r"conv_hr.\1"),
        ],
    )
    return _from_basicsr_keys(renamed, hints, MMSR)


FORMATS = (
    CheckpointFormat(
        BASICSR,
        "MSRResNet, BasicSR layout (conv_first, body.N.conv1/2, upconvN, conv_hr)",
        ("conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_hr.weight"),
        convert_basicsr,
    ),
    CheckpointFormat(
        MMSR,
        "MSRResNet, mmsr layout (conv_first, recon_trunk.N.conv1/2, upconvN, HRconv)",
        ("conv_first.weight", "recon_trunk.0.conv1.weight", "upconv1.weight", "HRconv.weight"),
        convert_mmsr,
    ),
)
