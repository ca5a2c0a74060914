"""BSRN as its authors publish it (xiaom233/BSRN ``experiments/pretrained_models/``, BasicSR ``params``;
srkit's keys) -> srkit ``bsrn``.

``fea_conv.{pw,dw}`` (BSConvU from ``4 * in_channels``: the input is repeated 4 times), ``B1 .. BN``
(``c{1,2,3}_d`` 1x1, ``c{1,2,3}_r.{pw,dw}`` and ``c4.{pw,dw}`` BSConvU, ``c5`` 1x1, ``esa.*`` with BSConvU
``conv_max``/``conv2``/``conv3``/``conv3_``, ``cca.conv_du.{0,2}``), ``c1`` (1x1 fusion of the N block
outputs), ``c2.{pw,dw}`` and ``upsampler.upsampleOneStep.0``. From the shapes: ``num_feat``
(``fea_conv.pw`` outputs; 64 BSRN, 48 BSRN-S), ``in_channels`` (its inputs / 4), ``num_block`` (the
``Bi`` count; 8 BSRN, 5 BSRN-S), ``esa_channels`` and the scale (``upsampleOneStep.0`` outputs =
``out_channels * scale**2``, ``out_channels = in_channels``). Only the released configuration is read:
BSConvU convolutions (``BSConvS``'s ``pw1``/``pw2`` and plain convs are refused) and the
``pixelshuffledirect`` upsampler. [0, 1] input."""

from __future__ import annotations

from srkit.archs.blocks import subpixel_scale
from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

BSRN = "bsrn"


def convert_bsrn(state: StateDict, hints: Hints) -> Converted:
    """BSRN / BSRN-S (BSConvU, pixelshuffledirect): the keys are srkit's; hyper-parameters from shapes."""
    layout = BSRN
    num_feat, in4 = shape(state, "fea_conv.pw.weight", hints, layout)[:2]
    if in4 % 4:
        raise hints.error(layout, f"fea_conv takes {in4} channels, not 4 x the image channels")
    in_channels = in4 // 4
    blocks = indices(state, r"B(\d+)\.c1_d\.weight")
    num_block = check_run(hints, layout, blocks, 1, "ESDB blocks")
    if not num_block:
        raise hints.error(layout, "no ESDB block (B1.c1_d.weight)")
    if "B1.c1_r.pw.weight" not in state:
        raise hints.error(layout, "only BSConvU convolutions are supported (no B1.c1_r.pw.weight)")
    fused = shape(state, "c1.weight", hints, layout)[1]
    if fused != num_feat * num_block:
        raise hints.error(layout, f"c1 fuses {fused} channels, not {num_block} blocks x {num_feat}")
    esa_channels = shape(state, "B1.esa.conv1.weight", hints, layout)[0]
    key = "upsampler.upsampleOneStep.0.weight"
    if key not in state:
        raise hints.error(layout, f"only the 'pixelshuffledirect' upsampler is supported (no {key!r})")
    out_channels = in_channels
    scale = subpixel_scale(hints, layout, shape(state, key, hints, layout)[0], out_channels, key[:-7])
    hparams = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
        "esa_channels": None if esa_channels == num_feat // 4 else esa_channels,
    }
    return "bsrn", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        BSRN,
        "BSRN/BSRN-S, xiaom233/BSRN layout (fea_conv.{pw,dw}, BN.{c1_d,c1_r,..,esa,cca}, c1, c2, "
        "upsampler.upsampleOneStep)",
        ("fea_conv.pw.weight", "B1.c1_d.weight", "B1.cca.conv_du.0.weight", "c1.weight", "c2.pw.weight"),
        convert_bsrn,
    ),
)
