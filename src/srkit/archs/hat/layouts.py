"""Official HAT checkpoints (XPixelGroup/HAT, BasicSR-style ``params`` / ``params_ema``) -> srkit ``hat``.

srkit's keys are the official ones; conversion drops the saved ``relative_position_index_SA`` and
``relative_position_index_OCA`` buffers (srkit derives them from the window and overlap; a saved one of
another shape is an error) and reads the hyper-parameters off the tensors:

- ``embed_dim``, ``in_channels``: ``conv_first.weight``;
- ``depths``, ``num_heads``, ``window_size``, ``mlp_ratio``, ``qkv_bias``: as SwinIR's layout (block
  indices per group, bias tables ``((2w - 1)^2, heads)``, ``mlp.fc1`` width);
- ``overlap_ratio``: OCAB's table has ``(w + ow - 1)^2`` rows for the overlapping window
  ``ow = w + int(w * overlap_ratio)``, so ``overlap_ratio = (ow - w) / w``;
- ``compress_ratio``: ``embed_dim // c`` for the ``c`` outputs of ``conv_block.cab.0``;
  ``squeeze_factor``: ``embed_dim // s`` for the ``s`` outputs of ``conv_block.cab.3.attention.1``
  (any ratio giving the same channel counts builds the same network);
- ``resi_connection``: ``layers.i.conv.weight`` present (``1conv``) or absent (``identity``);
- ``scale``: the ``upsample.{0,2,4}`` sub-pixel convs (4x the 64 channels per x2 stage, 9x for x3);
- not stored, official values used: ``conv_scale`` 0.01, ``img_range`` 1, ``img_size`` 64.
"""

from __future__ import annotations

import math

import torch

from srkit.archs.layouts import (
    CheckpointFormat,
    Converted,
    Hints,
    StateDict,
    indices,
    rename,
    shape,
    subpixel_factors,
)
from srkit.archs.swinir.layouts import transformer_layers

HAT_OFFICIAL = "hat-official"
DEFAULT_IMG_SIZE = 64
DEFAULT_CONV_SCALE = 0.01
DROPPED = (r"relative_position_index_SA", r"relative_position_index_OCA")


def _ratio(dim: int, channels: int, hints: Hints, what: str) -> int:
    """A ratio ``r`` with ``dim // r == channels``."""
    ratio = dim // channels if channels else 0
    if ratio < 1 or dim // ratio != channels:
        raise hints.error(HAT_OFFICIAL, f"{what} has {channels} channels, no dim // ratio of {dim}")
    return ratio


def _overlap_ratio(state: StateDict, hints: Hints, window: int, groups: int) -> float:
    rows = set()
    for i in range(groups):
        key = f"layers.{i}.residual_group.overlap_attn.relative_position_bias_table"
        rows.add(shape(state, key, hints, HAT_OFFICIAL)[0])
    if len(rows) != 1:
        raise hints.error(HAT_OFFICIAL, f"OCAB tables differ in size: {sorted(rows)}")
    count = rows.pop()
    side = math.isqrt(count)
    extra = side + 1 - 2 * window  # side = w + ow - 1, ow = w + extra
    if side * side != count or extra < 0 or extra % 2:
        raise hints.error(
            HAT_OFFICIAL, f"OCAB table has {count} rows, not (w + ow - 1)^2 for window {window}"
        )
    ratio = extra / window
    if int(window * ratio) != extra:
        raise hints.error(HAT_OFFICIAL, f"no overlap ratio enlarges window {window} by {extra}")
    return float(ratio)


def _check_index(state: StateDict, hints: Hints, key: str, want: tuple[int, int]) -> None:
    if key in state and tuple(state[key].shape) != want:
        raise hints.error(HAT_OFFICIAL, f"{key} has shape {tuple(state[key].shape)}, expected {want}")


def convert_official(state: StateDict, hints: Hints) -> Converted:
    """Official HAT keys are srkit's: the position-index buffers are dropped, the rest inferred."""
    layout = HAT_OFFICIAL
    if "absolute_pos_embed" in state:
        raise hints.error(layout, "absolute position embedding (ape=True) is not supported")
    dim, channels = shape(state, "conv_first.weight", hints, layout)[:2]
    depths, heads, window, mlp_ratio, qkv_bias = transformer_layers(state, hints, layout, dim)
    overlap_ratio = _overlap_ratio(state, hints, window, len(depths))
    ow = window + int(window * overlap_ratio)
    _check_index(state, hints, "relative_position_index_SA", (window * window, window * window))
    _check_index(state, hints, "relative_position_index_OCA", (window * window, ow * ow))
    cab = "layers.0.residual_group.blocks.0.conv_block.cab"
    compress = _ratio(dim, shape(state, f"{cab}.0.weight", hints, layout)[0], hints, f"{cab}.0")
    squeeze = _ratio(dim, shape(state, f"{cab}.3.attention.1.weight", hints, layout)[0], hints, f"{cab}.3")
    convs = {f"layers.{i}.conv.weight" in state for i in range(len(depths))}
    if len(convs) != 1 or ("conv_after_body.weight" in state) not in convs:
        raise hints.error(layout, "residual convs are present in some groups only")
    feat = shape(state, "conv_before_upsample.0.weight", hints, layout)[0]
    ups = indices(state, r"upsample\.(\d+)\.weight")
    if not ups or ups != list(range(0, 2 * len(ups), 2)):
        raise hints.error(layout, f"upsampling convs are at {ups}, expected 0, 2, ...")
    outs = [shape(state, f"upsample.{i}.weight", hints, layout)[0] for i in ups]
    factors = subpixel_factors(hints, layout, outs, feat, "an upsampling conv")
    scale = hints.check_scale(layout, math.prod(factors), f"{len(factors)} sub-pixel stage(s)")
    hparams = {
        "in_channels": channels,
        "embed_dim": dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": window,
        "compress_ratio": compress,
        "squeeze_factor": squeeze,
        "conv_scale": DEFAULT_CONV_SCALE,
        "overlap_ratio": overlap_ratio,
        "mlp_ratio": mlp_ratio,
        "scale": scale,
        "upsampler": "pixelshuffle",
        "resi_connection": "1conv" if convs.pop() else "identity",
        "img_range": 1.0,
        "img_size": max(DEFAULT_IMG_SIZE, window + 1),
        "qkv_bias": qkv_bias,
        "patch_norm": "patch_embed.norm.weight" in state,
    }
    renamed: dict[str, torch.Tensor] = rename(state, [], drop=DROPPED)
    return "hat", hparams, renamed


FORMATS = (
    CheckpointFormat(
        HAT_OFFICIAL,
        "HAT, official layout (conv_first, layers.i.residual_group.blocks.j.{attn,conv_block}, "
        "layers.i.residual_group.overlap_attn, conv_after_body)",
        (
            "conv_first.weight",
            "layers.0.residual_group.blocks.0.conv_block.cab.0.weight",
            "layers.0.residual_group.overlap_attn.relative_position_bias_table",
        ),
        convert_official,
    ),
)
