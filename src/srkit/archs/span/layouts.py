"""SPAN checkpoints (hongyuanyu/SPAN, the NTIRE 2024 challenge code; srkit's keys) -> srkit ``span``.

- **Re-parameterised** (``span``; the released and challenge files, e.g. ``team38_span_ch28_slim.pth``):
  every ``Conv3XC`` is one ``<name>.eval_conv`` 3x3 conv: ``conv_1``, ``block_N.c{1,2,3}_r``,
  ``conv_2``; plus ``conv_cat`` and ``upsampler.0``.
- **Training-time** (``span-train``; BasicSR training states): every ``Conv3XC`` as its branches
  ``<name>.sk`` (1x1) and ``<name>.conv.{0,1,2}`` (1x1, 3x3, 1x1). The ``eval_conv`` tensors such files
  also hold are derived from the branches (SPAN recomputes them on every evaluation call), so they are
  dropped; the srkit network is the training form (``reparameterized: false``), which
  :meth:`srkit.archs.span.SPAN.fused` turns into the single-conv form.

Both: ``channels`` and ``feature_channels`` from ``conv_1``, ``num_block`` from the ``block_N`` numbering
(from 1), ``scale`` from ``upsampler.0``'s output channels (``channels * scale**2``); the training form's
``gain`` from ``conv_1.conv.0`` (``gain * channels`` outputs). The input normalisation is not stored:
SPAN's DIV2K mean and 255 are assumed, as every SPAN model uses.
"""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

SPAN_EVAL = "span"
SPAN_TRAIN = "span-train"


def _common(state: StateDict, hints: Hints, layout: str, first: str) -> dict[str, int]:
    feat, channels = shape(state, first, hints, layout)[:2]
    blocks = indices(state, rf"block_(\d+)\.c1_r\.{'eval_conv' if layout == SPAN_EVAL else 'sk'}\.weight")
    num_block = check_run(hints, layout, blocks, 1, "blocks")
    if num_block == 0:
        raise hints.error(layout, "no block_N found")
    cat = shape(state, "conv_cat.weight", hints, layout)
    if cat[:2] != (feat, 4 * feat):
        raise hints.error(layout, f"conv_cat has shape {cat}, expected ({feat}, {4 * feat}, 1, 1)")
    out = shape(state, "upsampler.0.weight", hints, layout)[0]
    ratio, rest = divmod(out, channels)
    scale = round(ratio**0.5)
    if rest or scale * scale != ratio:
        raise hints.error(layout, f"upsampler.0 has {out} outputs, not {channels} x scale^2")
    scale = hints.check_scale(layout, scale, f"upsampler.0 {out} = {channels} x {scale}^2 channels")
    return {"channels": channels, "feature_channels": feat, "num_block": num_block, "scale": scale}


def convert_span(state: StateDict, hints: Hints) -> Converted:
    """Re-parameterised SPAN: the keys are srkit's (``reparameterized: true``)."""
    if "conv_1.sk.weight" in state:  # a training state also stores eval_conv (``span-train`` is tried first)
        return convert_span_train(state, hints)
    hparams = _common(state, hints, SPAN_EVAL, "conv_1.eval_conv.weight")
    return "span", {**hparams, "reparameterized": True}, dict(state)


def convert_span_train(state: StateDict, hints: Hints) -> Converted:
    """Training-time SPAN: the branches kept, the derived ``eval_conv`` tensors dropped."""
    layout = SPAN_TRAIN
    hparams = _common(state, hints, layout, "conv_1.sk.weight")
    expanded = shape(state, "conv_1.conv.0.weight", hints, layout)[0]
    gain, rest = divmod(expanded, hparams["channels"])
    if rest or gain < 1:
        raise hints.error(layout, f"conv_1.conv.0 has {expanded} outputs, not a multiple of the channels")
    kept = {k: v for k, v in state.items() if ".eval_conv." not in k}
    return "span", {**hparams, "gain": gain, "reparameterized": False}, kept


FORMATS = (
    CheckpointFormat(
        SPAN_TRAIN,
        "SPAN, training-time branches (conv_1/block_N.cK_r/conv_2 .sk and .conv.0-2, conv_cat, upsampler.0)",
        ("conv_1.sk.weight", "conv_1.conv.0.weight", "block_1.c1_r.sk.weight", "conv_cat.weight"),
        convert_span_train,
    ),
    CheckpointFormat(
        SPAN_EVAL,
        "SPAN, re-parameterised (conv_1/block_N.cK_r/conv_2 .eval_conv, conv_cat, upsampler.0)",
        ("conv_1.eval_conv.weight", "block_1.c1_r.eval_conv.weight", "conv_cat.weight", "upsampler.0.weight"),
        convert_span,
    ),
)
