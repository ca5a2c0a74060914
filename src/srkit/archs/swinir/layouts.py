"""Official SwinIR checkpoints (JingyunLiang/SwinIR ``model_zoo``, KAIR, BasicSR) -> srkit ``swinir``.

srkit's keys are the official ones, so conversion only drops the buffers the official modules save
(``layers.i.residual_group.blocks.j.attn_mask``, which depends on the training patch size, and
``...attn.relative_position_index``, which depends only on the window; srkit derives both) and reads
every hyper-parameter off the tensors (the ``params`` / ``params_ema`` container is already unwrapped by
:mod:`srkit.io.safe_load`):

- ``embed_dim``, ``in_channels``: ``conv_first.weight`` ``(embed_dim, in_channels, 3, 3)``;
- ``depths``: the block indices ``layers.i.residual_group.blocks.j`` per group ``i`` (consecutive);
- ``num_heads``: per group, the last dimension of ``relative_position_bias_table``;
- ``window_size``: its first dimension is ``(2w - 1)^2``;
- ``mlp_ratio``: ``mlp.fc1`` output channels / ``embed_dim``;
- ``qkv_bias``, ``patch_norm``: whether ``attn.qkv.bias`` and ``patch_embed.norm.weight`` exist;
- ``resi_connection``: ``layers.i.conv.weight`` (``1conv``) or ``layers.i.conv.{0,2,4}.weight`` (``3conv``);
- ``upsampler`` and ``scale``: ``conv_up1`` (``nearest+conv``; x4 with ``conv_up2``, x2 without);
  ``conv_before_upsample`` with ``upsample.{0,2,4}`` (``pixelshuffle``: 4x the 64 channels per x2 stage,
  9x for x3); ``upsample.0`` alone (``pixelshuffledirect``: ``scale^2 * in_channels`` outputs); only
  ``conv_last`` from ``embed_dim`` channels (``''``, scale 1);
- ``img_size``: from a saved ``attn_mask`` (``((img/w)^2, w^2, w^2)``, square patches assumed), else the
  official default 64; when the file saves position indices but no masks although groups have two or more
  blocks, the official code had not shifted (training patch not larger than the window), and
  ``img_size`` = ``window_size`` reproduces that. Inference does not depend on it otherwise.
- ``img_range``: not stored; 1 (every official SR and denoising model), except 255 for window 7 with no
  upsampler (the official JPEG artefact-reduction models, the only ones with window 7).

Files with an absolute position embedding (``absolute_pos_embed``, ``ape=True``) are refused: no official
model uses one and it would tie the network to one input size.

The layout is told apart from HAT's (whose keys contain SwinIR's) by HAT's ``conv_block`` and
``overlap_attn`` keys, which must be absent here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

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

SWINIR_OFFICIAL = "swinir-official"
#: The official ``img_size`` default (the training patch of every official SR model but classical s48).
DEFAULT_IMG_SIZE = 64
#: Buffers the official modules save and srkit derives.
DROPPED = (
    r"layers\.\d+\.residual_group\.blocks\.\d+\.attn_mask",
    r"layers\.\d+\.residual_group\.blocks\.\d+\.attn\.relative_position_index",
)


@dataclass(frozen=True)
class ExclusiveFormat(CheckpointFormat):
    """A layout that also requires some keys to be absent (SwinIR's keys are a subset of HAT's)."""

    absent: tuple[str, ...] = ()

    def matches(self, state: StateDict) -> bool:
        return super().matches(state) and not any(key in state for key in self.absent)


def window_from_table(rows: int, hints: Hints, layout: str, key: str) -> int:
    """``w`` from a ``((2w - 1)^2, heads)`` relative position bias table."""
    side = math.isqrt(rows)
    if side * side != rows or side % 2 == 0:
        raise hints.error(layout, f"{key} has {rows} rows, not (2w - 1)^2 for a window w")
    return (side + 1) // 2


def mlp_ratio_of(hidden: int, dim: int, hints: Hints, layout: str) -> float:
    """The ratio whose ``int(dim * ratio)`` is ``hidden``."""
    ratio = hidden / dim
    if int(dim * ratio) != hidden:
        raise hints.error(layout, f"an MLP of {hidden} channels is no int(ratio * {dim})")
    return float(ratio)


def transformer_layers(
    state: StateDict, hints: Hints, layout: str, dim: int
) -> tuple[list[int], list[int], int, float, bool]:
    """``(depths, num_heads, window_size, mlp_ratio, qkv_bias)`` of a SwinIR/HAT trunk (same block keys)."""
    groups = indices(state, r"layers\.(\d+)\.residual_group\.blocks\.0\.norm1\.weight")
    check_run(hints, layout, groups, 0, "residual groups 'layers.i'")
    if not groups:
        raise hints.error(layout, "no residual group 'layers.0.residual_group.blocks.0'")
    depths, heads, windows, hiddens = [], [], set(), set()
    for i in groups:
        prefix = f"layers.{i}.residual_group.blocks"
        blocks = indices(state, rf"layers\.{i}\.residual_group\.blocks\.(\d+)\.norm1\.weight")
        depths.append(check_run(hints, layout, blocks, 0, f"blocks of {prefix}"))
        layer_heads = set()
        for j in blocks:
            key = f"{prefix}.{j}.attn.relative_position_bias_table"
            rows, h = shape(state, key, hints, layout)
            layer_heads.add(h)
            windows.add(window_from_table(rows, hints, layout, key))
            hiddens.add(shape(state, f"{prefix}.{j}.mlp.fc1.weight", hints, layout)[0])
        if len(layer_heads) != 1:
            raise hints.error(layout, f"{prefix} mixes head counts {sorted(layer_heads)}")
        heads.append(layer_heads.pop())
    if len(windows) != 1 or len(hiddens) != 1:
        raise hints.error(
            layout, f"blocks differ in window ({sorted(windows)}) or MLP width ({sorted(hiddens)})"
        )
    window, hidden = windows.pop(), hiddens.pop()
    qkv_bias = "layers.0.residual_group.blocks.0.attn.qkv.bias" in state
    return depths, heads, window, mlp_ratio_of(hidden, dim, hints, layout), qkv_bias


def _resi_connection(state: StateDict, hints: Hints, layout: str, groups: int) -> str:
    kinds = set()
    for prefix in [f"layers.{i}.conv" for i in range(groups)] + ["conv_after_body"]:
        if f"{prefix}.weight" in state:
            kinds.add("1conv")
        elif all(f"{prefix}.{k}.weight" in state for k in (0, 2, 4)):
            kinds.add("3conv")
        else:
            raise hints.error(layout, f"no residual conv {prefix}.weight or {prefix}.0/2/4.weight")
    if len(kinds) != 1:
        raise hints.error(layout, "residual convs mix 1conv and 3conv")
    return kinds.pop()


def _reconstruction(
    state: StateDict, hints: Hints, layout: str, dim: int, channels: int
) -> tuple[str, int, str]:
    """``(upsampler, scale, how)`` from the reconstruction keys."""
    if "conv_up1.weight" in state:
        scale = 4 if "conv_up2.weight" in state else 2
        return "nearest+conv", scale, f"nearest+conv with {scale // 2} upsampling conv(s)"
    if "conv_before_upsample.0.weight" in state:
        feat = shape(state, "conv_before_upsample.0.weight", hints, layout)[0]
        ups = indices(state, r"upsample\.(\d+)\.weight")
        if not ups or ups != list(range(0, 2 * len(ups), 2)):
            raise hints.error(layout, f"upsampling convs are at {ups}, expected 0, 2, ...")
        outs = [shape(state, f"upsample.{i}.weight", hints, layout)[0] for i in ups]
        factors = subpixel_factors(hints, layout, outs, feat, "an upsampling conv")
        return "pixelshuffle", math.prod(factors), f"{len(factors)} sub-pixel stage(s)"
    if "upsample.0.weight" in state:
        out = shape(state, "upsample.0.weight", hints, layout)[0]
        ratio, rest = divmod(out, channels)
        scale = math.isqrt(ratio)
        if rest or scale * scale != ratio or scale < 2:
            raise hints.error(layout, f"upsample.0 has {out} outputs, not scale^2 * {channels}")
        return "pixelshuffledirect", scale, f"one-step upsampling to {out} channels"
    if shape(state, "conv_last.weight", hints, layout)[1] == dim:
        return "", 1, "no upsampler (restoration model)"
    raise hints.error(layout, "cannot tell the reconstruction module (no conv_up1, upsample.0, conv_last)")


def _img_size(state: StateDict, window: int, depths: list[int]) -> int:
    masks = [k for k in state if k.endswith(".attn_mask")]
    if masks:
        windows = state[masks[0]].shape[0]
        side = math.isqrt(windows)
        return side * window if side * side == windows else DEFAULT_IMG_SIZE
    saved_buffers = any(k.endswith(".attn.relative_position_index") for k in state)
    if saved_buffers and max(depths) >= 2:
        return window  # saved without masks: the official blocks did not shift
    return DEFAULT_IMG_SIZE


def convert_official(state: StateDict, hints: Hints) -> Converted:
    """Official SwinIR keys are srkit's: the buffers are dropped and the hyper-parameters inferred."""
    layout = SWINIR_OFFICIAL
    if "absolute_pos_embed" in state:
        raise hints.error(layout, "absolute position embedding (ape=True) is not supported")
    dim, channels = shape(state, "conv_first.weight", hints, layout)[:2]
    depths, heads, window, mlp_ratio, qkv_bias = transformer_layers(state, hints, layout, dim)
    resi = _resi_connection(state, hints, layout, len(depths))
    upsampler, scale, how = _reconstruction(state, hints, layout, dim, channels)
    scale = hints.check_scale(layout, scale, how)
    hparams = {
        "in_channels": channels,
        "embed_dim": dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": window,
        "mlp_ratio": mlp_ratio,
        "scale": scale,
        "upsampler": upsampler,
        "resi_connection": resi,
        "img_range": 255.0 if window == 7 and upsampler == "" else 1.0,
        "img_size": _img_size(state, window, depths),
        "qkv_bias": qkv_bias,
        "patch_norm": "patch_embed.norm.weight" in state,
    }
    renamed: dict[str, torch.Tensor] = rename(state, [], drop=DROPPED)
    return "swinir", hparams, renamed


FORMATS = (
    ExclusiveFormat(
        SWINIR_OFFICIAL,
        "SwinIR, official layout (conv_first, layers.i.residual_group.blocks.j.attn, conv_after_body; "
        "classical, lightweight, real-SR, denoising, JPEG)",
        (
            "conv_first.weight",
            "layers.0.residual_group.blocks.0.attn.relative_position_bias_table",
            "layers.0.residual_group.blocks.0.attn.qkv.weight",
        ),
        convert_official,
        absent=(
            "layers.0.residual_group.blocks.0.conv_block.cab.0.weight",
            "layers.0.residual_group.overlap_attn.qkv.weight",
        ),
    ),
)
