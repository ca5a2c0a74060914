"""RLFN as its authors publish it (bytedance/RLFN ``model_zoo/``; srkit's keys) -> srkit ``rlfn``.

``conv_1`` (3x3, ``num_feat x in_channels``), ``block_1 .. block_N`` (``c1_r``, ``c2_r``, ``c3_r`` 3x3,
``c5`` 1x1, ``esa.{conv1, conv_f, conv2, conv3, conv4}``), ``conv_2`` (3x3) and ``upsampler.0`` (3x3 to
``out_channels * scale**2``). From the shapes: ``num_feat`` (``conv_1`` outputs; 52 RLFN, 48 RLFN-S,
46 the pruned NTIRE 2022 model), ``mid_channels`` (``block_1.c1_r`` outputs; 48 in the pruned model),
``esa_channels`` (``block_1.esa.conv1`` outputs), ``num_block`` (the ``block_i`` count: 6, or 4 pruned)
and the scale (``upsampler.0`` outputs = ``out_channels * scale**2``, ``out_channels = in_channels``).
The authors' networks take [0, 255] RGB, so ``img_range`` is 255 (not stored in the weights)."""

from __future__ import annotations

from srkit.archs.blocks import subpixel_scale
from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

RLFN = "rlfn"


def convert_rlfn(state: StateDict, hints: Hints) -> Converted:
    """RLFN / RLFN-S / RLFN_Prune: the keys are srkit's; every hyper-parameter from the shapes."""
    layout = RLFN
    num_feat, in_channels = shape(state, "conv_1.weight", hints, layout)[:2]
    blocks = indices(state, r"block_(\d+)\.c1_r\.weight")
    num_block = check_run(hints, layout, blocks, 1, "RLFB blocks")
    if not num_block:
        raise hints.error(layout, "no RLFB block (block_1.c1_r.weight)")
    mid = shape(state, "block_1.c1_r.weight", hints, layout)[0]
    esa_channels = shape(state, "block_1.esa.conv1.weight", hints, layout)[0]
    out_channels = in_channels
    up = shape(state, "upsampler.0.weight", hints, layout)[0]
    scale = subpixel_scale(hints, layout, up, out_channels, "upsampler.0")
    hparams = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
        "mid_channels": None if mid == num_feat else mid,
        "esa_channels": esa_channels,
        "img_range": 255.0,
    }
    return "rlfn", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        RLFN,
        "RLFN/RLFN-S/RLFN_Prune, bytedance/RLFN layout (conv_1, block_N.{c1_r,c2_r,c3_r,c5,esa}, conv_2, "
        "upsampler.0; [0, 255] input)",
        (
            "conv_1.weight",
            "block_1.c1_r.weight",
            "block_1.esa.conv1.weight",
            "conv_2.weight",
            "upsampler.0.weight",
        ),
        convert_rlfn,
    ),
)
