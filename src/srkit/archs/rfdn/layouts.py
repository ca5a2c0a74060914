"""RFDN as its authors publish it (njulj/RFDN ``trained_model/``; srkit's keys) -> srkit ``rfdn``.

``fea_conv`` (3x3, ``num_feat x in_channels``), ``B1 .. BN`` (``c{1,2,3}_d`` 1x1, ``c{1,2,3}_r`` 3x3,
``c4``, ``c5``, ``esa.{conv1, conv_f, conv_max, conv2, conv3, conv3_, conv4}``), ``c.0`` (1x1 fusion of
the N block outputs), ``LR_conv`` (3x3) and ``upsampler.0`` (3x3 to ``out_channels * scale**2``). From
the shapes: ``num_feat`` (``fea_conv`` outputs; 48 in the paper, 50 in the AIM 2020 model), ``num_block``
(the ``Bi`` count: 6 in the paper, 4 AIM), ``esa_channels`` (``B1.esa.conv1`` outputs) and the scale
(``upsampler.0`` outputs = ``out_channels * scale**2``, ``out_channels = in_channels``). The authors'
networks take [0, 255] RGB, so ``img_range`` is 255 (not stored in the weights)."""

from __future__ import annotations

from srkit.archs.blocks import subpixel_scale
from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

RFDN = "rfdn"


def convert_rfdn(state: StateDict, hints: Hints) -> Converted:
    """RFDN (paper and AIM 2020 variants): the keys are srkit's; every hyper-parameter from the shapes."""
    layout = RFDN
    num_feat, in_channels = shape(state, "fea_conv.weight", hints, layout)[:2]
    blocks = indices(state, r"B(\d+)\.c1_r\.weight")
    num_block = check_run(hints, layout, blocks, 1, "RFDB blocks")
    if not num_block:
        raise hints.error(layout, "no RFDB block (B1.c1_r.weight)")
    fused = shape(state, "c.0.weight", hints, layout)[1]
    if fused != num_feat * num_block:
        raise hints.error(layout, f"c.0 fuses {fused} channels, not {num_block} blocks x {num_feat}")
    esa_channels = shape(state, "B1.esa.conv1.weight", hints, layout)[0]
    out_channels = in_channels
    up = shape(state, "upsampler.0.weight", hints, layout)[0]
    scale = subpixel_scale(hints, layout, up, out_channels, "upsampler.0")
    hparams = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
        "esa_channels": None if esa_channels == num_feat // 4 else esa_channels,
        "img_range": 255.0,
    }
    return "rfdn", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        RFDN,
        "RFDN, njulj/RFDN layout (fea_conv, BN.{c1_d,c1_r,..,c5,esa}, c.0, LR_conv, upsampler.0; "
        "[0, 255] input)",
        ("fea_conv.weight", "B1.c1_d.weight", "B1.esa.conv1.weight", "c.0.weight", "LR_conv.weight"),
        convert_rfdn,
    ),
)
