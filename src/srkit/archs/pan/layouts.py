"""PAN as its authors publish it (zhaohengyuan1/PAN, ``PANx{2,3,4}_DF2K.pth``; srkit's keys) -> srkit
``pan``.

``conv_first``, ``SCPA_trunk.N.{conv1_a, conv1_b, k1.0, PAConv.k2/k3/k4, conv3}``, ``trunk_conv``,
``upconv1``/``att1.conv``/``HRconv1`` (and ``upconv2``/``att2.conv``/``HRconv2`` at x4), ``conv_last``.
``num_feat`` from ``conv_first``, ``num_up_feat`` from ``upconv1``, ``num_block`` from the
``SCPA_trunk`` numbering. A second upsampling stage means x4; with one stage the weights of x2 and x3
are the same shapes (the stage's nearest-neighbour factor is not a tensor), so the scale comes from the
user (``--scale``) or the file name (``PANx3_DF2K.pth``)."""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

PAN = "pan"


def convert_pan(state: StateDict, hints: Hints) -> Converted:
    """PAN: every hyper-parameter from the shapes but the x2/x3 choice of a one-stage model."""
    layout = PAN
    num_feat, in_channels = shape(state, "conv_first.weight", hints, layout)[:2]
    num_up_feat = shape(state, "upconv1.weight", hints, layout)[0]
    out_channels = shape(state, "conv_last.weight", hints, layout)[0]
    blocks = indices(state, r"SCPA_trunk\.(\d+)\.conv1_a\.weight")
    num_block = check_run(hints, layout, blocks, 0, "SCPA blocks")
    if num_block:
        half = shape(state, "SCPA_trunk.0.conv1_a.weight", hints, layout)[0]
        if 2 * half != num_feat:
            raise hints.error(
                layout, f"SCPA halves have {half} channels for {num_feat} features (reduction 2)"
            )
    if "upconv2.weight" in state:
        scale = hints.check_scale(layout, 4, "two upsampling stages")
    else:
        scale_hint = hints.any_scale
        if scale_hint not in (2, 3):
            raise hints.error(
                layout,
                "one upsampling stage is x2 or x3 and the weights do not say which; name the file like "
                "PANx3_DF2K.pth or give the scale (srkit convert --scale 3)",
            )
        scale = scale_hint
    hparams = {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_up_feat": num_up_feat,
        "num_block": num_block,
        "scale": scale,
    }
    return "pan", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        PAN,
        "PAN, zhaohengyuan1/PAN layout (conv_first, SCPA_trunk.N, trunk_conv, upconvK/attK/HRconvK)",
        ("conv_first.weight", "SCPA_trunk.0.conv1_a.weight", "trunk_conv.weight", "att1.conv.weight"),
        convert_pan,
    ),
)
