"""IMDN checkpoints -> srkit ``imdn`` (the authors' network) and ``imdn_kair`` (KAIR's simplified IMDN).

- **Authors** (Zheng222/IMDN ``checkpoints/IMDN_x{2,3,4}.pth``; srkit's keys once the DataParallel
  ``module.`` prefix is removed, which reading a file does): ``fea_conv``, ``IMDB1 .. IMDBN``
  (``c1``..``c5``, ``cca.conv_du.{0,2}``), ``c.0``, ``LR_conv``, ``upsampler.0``. From the shapes:
  ``num_feat`` (``fea_conv`` outputs), ``num_block`` (the ``IMDBi`` count; 6) and the scale
  (``upsampler.0`` outputs = ``out_channels * scale**2``, ``out_channels = in_channels``).
- **KAIR** (cszn/KAIR ``network_imdn.py``, the NTIRE 2022 challenge's ``imdn_baseline.pth``; srkit's
  keys): ``model.0`` head conv, ``model.1.sub.I.{conv1.0, conv2.0, conv3.0, conv4, conv1x1}`` blocks,
  ``model.1.sub.N`` the body's last conv, ``model.2`` the upsampling conv. ``num_block`` is the number
  of ``model.1.sub.I`` blocks (8 in the challenge baseline), ``num_feat`` the head's outputs, the scale
  from ``model.2``'s outputs. Its ``model.0``/``model.1.sub.N`` prefixes are ESRGAN old-arch's too; the
  block keys (``conv1.0`` rather than ``RDB1``) tell them apart.

Both take [0, 1] RGB."""

from __future__ import annotations

from srkit.archs.blocks import subpixel_scale
from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

IMDN = "imdn"
IMDN_KAIR = "imdn-kair"


def convert_imdn(state: StateDict, hints: Hints) -> Converted:
    """The authors' IMDN: the keys are srkit's; ``num_feat``, ``num_block`` and the scale from shapes."""
    layout = IMDN
    num_feat, in_channels = shape(state, "fea_conv.weight", hints, layout)[:2]
    blocks = indices(state, r"IMDB(\d+)\.c1\.weight")
    num_block = check_run(hints, layout, blocks, 1, "IMDB blocks")
    if not num_block:
        raise hints.error(layout, "no IMDB block (IMDB1.c1.weight)")
    fused = shape(state, "c.0.weight", hints, layout)[1]
    if fused != num_feat * num_block:
        raise hints.error(layout, f"c.0 fuses {fused} channels, not {num_block} blocks x {num_feat}")
    out_channels = in_channels
    up = shape(state, "upsampler.0.weight", hints, layout)[0]
    scale = subpixel_scale(hints, layout, up, out_channels, "upsampler.0")
    hparams = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
    }
    return "imdn", hparams, dict(state)


def convert_imdn_kair(state: StateDict, hints: Hints) -> Converted:
    """KAIR's simplified IMDN: the keys are srkit's; ``num_feat``, ``num_block`` and the scale from shapes."""
    layout = IMDN_KAIR
    num_feat, in_channels = shape(state, "model.0.weight", hints, layout)[:2]
    blocks = indices(state, r"model\.1\.sub\.(\d+)\.conv1\.0\.weight")
    num_block = check_run(hints, layout, blocks, 0, "IMDBlocks")
    last = indices(state, r"model\.1\.sub\.(\d+)\.weight")
    if last != [num_block]:
        raise hints.error(layout, f"expected the body's last conv at model.1.sub.{num_block}, found {last}")
    out_channels = in_channels
    up = shape(state, "model.2.weight", hints, layout)[0]
    scale = subpixel_scale(hints, layout, up, out_channels, "model.2")
    hparams = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
    }
    return "imdn_kair", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        IMDN,
        "IMDN, Zheng222/IMDN layout (fea_conv, IMDBN.{c1..c5,cca}, c.0, LR_conv, upsampler.0)",
        ("fea_conv.weight", "IMDB1.c1.weight", "IMDB1.cca.conv_du.0.weight", "c.0.weight", "LR_conv.weight"),
        convert_imdn,
    ),
)

KAIR_FORMATS = (
    CheckpointFormat(
        IMDN_KAIR,
        "simplified IMDN, KAIR / NTIRE 2022 baseline layout (model.0, model.1.sub.N.{conv1.0,..,conv1x1}, "
        "model.2)",
        ("model.0.weight", "model.1.sub.0.conv1.0.weight", "model.1.sub.0.conv1x1.weight", "model.2.weight"),
        convert_imdn_kair,
    ),
)
