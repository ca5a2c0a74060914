"""HAT: Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023, laid out
key for key as the authors' ``hat/archs/hat_arch.py`` (XPixelGroup/HAT), so official checkpoints load.

A SwinIR-like trunk whose blocks add a convolutional channel-attention branch (CAB, RCAN-style: global
average pool, squeeze, excite) to shifted-window attention, and whose groups end with an overlapping
cross-attention block (OCAB: queries from ``w x w`` windows, keys and values from the enclosing
``(w + w*overlap) x (w + w*overlap)`` windows, zero-padded at the image border). The window pieces are
SwinIR's (:mod:`srkit.archs.swinir.net`); see there for the shifted-window masks, which srkit builds for
the actual input (the official code recomputes them per input size in ``forward_features`` too).

Padding: ``forward`` pads the bottom and right by reflection to a multiple of the window and crops back,
as the official ``HATModel.pre_process`` does before the network (and the srkit runner before that).

Tiling: every CAB pools its input over the whole image, so a tile's channel gates differ from the whole
image's. The branch is scaled by ``conv_scale`` (0.01), and on a small random network this global part of
the tiled-vs-whole difference is ~0.005/255, far below the part that comes from the window attention's
reach across tile edges (which tiles blend away as for SwinIR), so the NetInfo says ``seamless``
(``tests/test_hat.py`` measures both parts). Trained weights with very input-dependent channel gates
could differ more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_choice, check_float, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.archs.runner import pad_to_multiple
from srkit.archs.swinir.net import (
    NUM_FEAT,
    TRANSFORMER_PRECISIONS,
    DropPath,
    Mlp,
    PatchNorm,
    PixelShuffleUpsample,
    attend,
    check_block_options,
    check_heads,
    check_int_list,
    conv_hwc,
    drop_path_rates,
    hidden_features,
    image_mean,
    image_size,
    init_transformer_weights,
    merge_heads,
    relative_position_index,
    split_heads,
    window_attention,
    window_partition,
    window_reverse,
)
from srkit.errors import ConfigError

HAT_SCALES = (2, 3, 4, 8)
HAT_RESI_CONNECTIONS = ("1conv", "identity")
HAT_UPSAMPLERS = ("pixelshuffle",)


def overlap_window(window: int, overlap_ratio: float) -> int:
    """The OCAB key/value window: ``int(window * overlap_ratio) + window``."""
    return int(window * overlap_ratio) + window


def relative_position_index_oca(window: int, overlap_ratio: float) -> torch.Tensor:
    """``(w*w, ow*ow)`` index into OCAB's ``((w + ow - 1)^2, heads)`` table (the official
    ``calculate_rpi_oca``: offsets of key positions in the ``ow`` window from query positions in the
    ``w`` window it encloses). The official shift, ``w - ow + 1``, leaves negative entries that index the
    table from its end; they are taken modulo the table size here, which selects the same rows."""
    ext = overlap_window(window, overlap_ratio)
    ori = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    big = torch.stack(torch.meshgrid(torch.arange(ext), torch.arange(ext), indexing="ij")).flatten(1)
    rel = (big[:, None, :] - ori[:, :, None]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - ext + 1
    rel[:, :, 1] += window - ext + 1
    rel[:, :, 0] *= window + ext - 1
    return rel.sum(-1) % (window + ext - 1) ** 2


class ChannelAttention(nn.Module):
    """RCAN channel attention: ``x * sigmoid(conv(relu(conv(avgpool(x)))))`` (key ``attention``; 1x1
    convs at ``attention.1`` and ``attention.3``)."""

    def __init__(self, num_feat: int, squeeze_factor: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_feat, num_feat // squeeze_factor, 1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat // squeeze_factor, num_feat, 1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CAB(nn.Module):
    """Channel attention block: 3x3 conv to ``dim / compress_ratio``, GELU, 3x3 conv back, channel
    attention (key ``cab``)."""

    def __init__(self, num_feat: int, compress_ratio: int, squeeze_factor: int) -> None:
        super().__init__()
        self.cab = nn.Sequential(
            nn.Conv2d(num_feat, num_feat // compress_ratio, 3, 1, 1),
            nn.GELU(),
            nn.Conv2d(num_feat // compress_ratio, num_feat, 3, 1, 1),
            ChannelAttention(num_feat, squeeze_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class HATWindowAttention(nn.Module):
    """Window self-attention whose position index is the network's ``relative_position_index_SA`` (keys
    ``qkv``, ``proj``, ``relative_position_bias_table``)."""

    def __init__(self, dim: int, window: int, heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, rpi: torch.Tensor, shift: int) -> torch.Tensor:
        """``(B, H, W, C)`` (already shifted) -> ``(B, H, W, C)``."""
        c = x.shape[-1]
        n = self.window * self.window
        bias = self.relative_position_bias_table[rpi.view(-1)].view(n, n, -1).permute(2, 0, 1)
        windows = window_partition(x, self.window)
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(windows).split(c, dim=-1))
        out = window_attention(q, k, v, bias, self.window, shift)
        return window_reverse(self.proj(merge_heads(out)), self.window)


class HAB(nn.Module):
    """Hybrid attention block: ``x + attn(norm1 x) + conv_scale * cab(norm1 x)``, then
    ``x + mlp(norm2 x)`` (keys ``norm1``, ``attn``, ``conv_block``, ``norm2``, ``mlp``)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        shift: int,
        compress_ratio: int,
        squeeze_factor: int,
        conv_scale: float,
        mlp_hidden: int,
        qkv_bias: bool,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.shift, self.conv_scale = shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.attn = HATWindowAttention(dim, window, heads, qkv_bias)
        self.conv_block = CAB(dim, compress_ratio, squeeze_factor)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor, rpi: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        conv_x = conv_hwc(self.conv_block, h)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = self.attn(h, rpi, self.shift)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(h) + conv_x * self.conv_scale
        return x + self.drop_path(self.mlp(self.norm2(x)))


class OCAB(nn.Module):
    """Overlapping cross-attention block (keys ``norm1``, ``qkv``, ``relative_position_bias_table``,
    ``proj``, ``norm2``, ``mlp``): queries of each ``w x w`` window attend to the keys/values of the
    ``ow x ow`` window around it (``F.unfold`` with zero padding ``(ow - w) / 2``, as the official
    ``nn.Unfold``), then ``x + proj(...)`` and ``x + mlp(norm2 x)``."""

    def __init__(
        self, dim: int, window: int, overlap_ratio: float, heads: int, mlp_hidden: int, qkv_bias: bool
    ) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.overlap_win_size = overlap_window(window, overlap_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((window + self.overlap_win_size - 1) ** 2, heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor, rpi: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        ws, ow = self.window, self.overlap_win_size
        shortcut = x
        qkv = self.qkv(self.norm1(x))
        q = split_heads(window_partition(qkv[..., :c], ws), self.heads)
        kv = F.unfold(qkv[..., c:].permute(0, 3, 1, 2), kernel_size=ow, stride=ws, padding=(ow - ws) // 2)
        kv = kv.view(b, 2, c, ow * ow, h // ws, w // ws).permute(1, 0, 4, 5, 3, 2)
        k, v = split_heads(kv[0], self.heads), split_heads(kv[1], self.heads)
        bias = self.relative_position_bias_table[rpi.view(-1)].view(ws * ws, ow * ow, -1).permute(2, 0, 1)
        out = window_reverse(merge_heads(attend(q, k, v, bias)), ws)
        x = self.proj(out) + shortcut
        return x + self.mlp(self.norm2(x))


class AttenBlocks(nn.Module):
    """The HABs of one group (``blocks.j``; odd ones shifted) and its OCAB (``overlap_attn``)."""

    def __init__(self, blocks: Sequence[HAB], overlap_attn: OCAB) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.overlap_attn = overlap_attn

    def forward(self, x: torch.Tensor, rpi_sa: torch.Tensor, rpi_oca: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, rpi_sa)
        return self.overlap_attn(x, rpi_oca)


class RHAG(nn.Module):
    """Residual hybrid attention group: ``x + conv(residual_group(x))`` (``conv`` 3x3, or identity)."""

    def __init__(self, group: AttenBlocks, dim: int, resi_connection: str) -> None:
        super().__init__()
        self.residual_group = group
        self.conv: nn.Module = nn.Conv2d(dim, dim, 3, 1, 1) if resi_connection == "1conv" else nn.Identity()

    def forward(self, x: torch.Tensor, rpi_sa: torch.Tensor, rpi_oca: torch.Tensor) -> torch.Tensor:
        return conv_hwc(self.conv, self.residual_group(x, rpi_sa, rpi_oca)) + x


class HAT(SRNet):
    """HAT (Chen et al. 2023) with the official state-dict layout.

    ``conv_first`` -> ``patch_embed.norm`` -> groups ``layers.i`` (``residual_group.blocks.j`` hybrid
    attention blocks: ``norm1``, ``attn.{qkv, proj, relative_position_bias_table}``,
    ``conv_block.cab.{0, 2, 3.attention.1, 3.attention.3}``, ``norm2``, ``mlp.fc1/fc2``; then
    ``residual_group.overlap_attn`` = OCAB ``{norm1, qkv, relative_position_bias_table, proj, norm2,
    mlp}``; then ``conv``) -> ``norm`` -> ``conv_after_body`` + long skip -> ``conv_before_upsample`` (to
    64, LeakyReLU) -> ``upsample`` (sub-pixel stages) -> ``conv_last``. The official
    ``relative_position_index_SA`` / ``relative_position_index_OCA`` are non-persistent buffers here
    (derived from the window and overlap; checkpoints' copies are dropped by the ``hat-official``
    layout).

    The image is mapped to ``(x - mean) * img_range`` and back, as SwinIR (DIV2K RGB mean, range 1).

    Official variants (registry presets; window 16, ``conv_scale`` 0.01, ``overlap_ratio`` 0.5, MLP ratio
    2, 6 heads): **HAT-S** ``embed_dim`` 144, ``depths`` [6]*6, ``compress_ratio`` 24,
    ``squeeze_factor`` 24; **HAT** 180, [6]*6, 3, 30 (the constructor's defaults; 20,772,507 parameters at
    x4); **HAT-L** 180, [6]*12, 3, 30.

    Args:
        in_channels: image channels (output the same).
        embed_dim, depths, num_heads, window_size, mlp_ratio: as SwinIR.
        compress_ratio: CAB's channel reduction; squeeze_factor: its channel attention's squeeze.
        conv_scale: weight of the CAB branch.
        overlap_ratio: OCAB's window enlargement (``int(window * overlap_ratio)`` must be even).
        scale: 2, 3, 4 or 8. upsampler: ``'pixelshuffle'`` (the only one the official HAT builds).
        resi_connection: ``'1conv'`` or ``'identity'``.
        img_range: value range the network works in.
        img_size: training patch size (official default 64); when it is not larger than the window,
            the blocks are not shifted (as the official code does; smaller ones break it and are refused).
        qkv_bias, patch_norm, drop_path_rate: as SwinIR.
    """

    no_decay_keywords = ("relative_position_bias_table", "absolute_pos_embed")

    mean: torch.Tensor
    relative_position_index_SA: torch.Tensor
    relative_position_index_OCA: torch.Tensor

    def __init__(
        self,
        in_channels: int = 3,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6),
        window_size: int = 16,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        overlap_ratio: float = 0.5,
        mlp_ratio: float = 2.0,
        scale: int = 4,
        upsampler: str = "pixelshuffle",
        resi_connection: str = "1conv",
        img_range: float = 1.0,
        img_size: int | Sequence[int] = 64,
        qkv_bias: bool = True,
        patch_norm: bool = True,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        arch = "hat"
        in_channels = check_int(arch, "in_channels", in_channels)
        embed_dim = check_int(arch, "embed_dim", embed_dim)
        depth_list = check_int_list(arch, "depths", depths)
        head_list = check_int_list(arch, "num_heads", num_heads)
        check_heads(arch, embed_dim, depth_list, head_list)
        window_size = check_int(arch, "window_size", window_size)
        compress_ratio = check_int(arch, "compress_ratio", compress_ratio)
        squeeze_factor = check_int(arch, "squeeze_factor", squeeze_factor)
        for key, ratio in (("compress_ratio", compress_ratio), ("squeeze_factor", squeeze_factor)):
            if embed_dim // ratio < 1:
                raise ConfigError(f"{arch}: {key}={ratio} leaves no channels of embed_dim={embed_dim}")
        conv_scale = check_float(arch, "conv_scale", conv_scale, positive=False)
        overlap_ratio = check_float(arch, "overlap_ratio", overlap_ratio, positive=False)
        extra = overlap_window(window_size, overlap_ratio) - window_size
        if overlap_ratio < 0 or extra % 2:
            raise ConfigError(
                f"{arch}: overlap_ratio={overlap_ratio} enlarges the window by {extra} pixels; "
                "it must be a non-negative even number"
            )
        mlp_ratio = check_float(arch, "mlp_ratio", mlp_ratio)
        hidden = hidden_features(arch, embed_dim, mlp_ratio)
        scale = check_choice(arch, "scale", scale, HAT_SCALES)
        upsampler = check_choice(arch, "upsampler", upsampler, HAT_UPSAMPLERS)
        resi_connection = check_choice(arch, "resi_connection", resi_connection, HAT_RESI_CONNECTIONS)
        img_range = check_float(arch, "img_range", img_range)
        size = image_size(arch, img_size)
        if min(size) < window_size:
            raise ConfigError(f"{arch}: img_size={img_size!r} is smaller than window_size={window_size}")
        qkv_bias, patch_norm, drop_path_rate = check_block_options(arch, qkv_bias, patch_norm, drop_path_rate)

        self.window = window_size
        self.scale = scale
        self.img_range = img_range
        self.register_buffer("mean", image_mean(in_channels), persistent=False)
        self.register_buffer(
            "relative_position_index_SA", relative_position_index(window_size), persistent=False
        )
        self.register_buffer(
            "relative_position_index_OCA",
            relative_position_index_oca(window_size, overlap_ratio),
            persistent=False,
        )

        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim, patch_norm)
        shift = window_size // 2 if min(size) > window_size else 0
        self.layers = nn.ModuleList()
        for heads, rates in zip(head_list, drop_path_rates(drop_path_rate, depth_list), strict=True):
            blocks = [
                HAB(
                    embed_dim,
                    heads,
                    window_size,
                    shift if j % 2 else 0,
                    compress_ratio,
                    squeeze_factor,
                    conv_scale,
                    hidden,
                    qkv_bias,
                    r,
                )
                for j, r in enumerate(rates)
            ]
            ocab = OCAB(embed_dim, window_size, overlap_ratio, heads, hidden, qkv_bias)
            self.layers.append(RHAG(AttenBlocks(blocks, ocab), embed_dim, resi_connection))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body: nn.Module = (
            nn.Conv2d(embed_dim, embed_dim, 3, 1, 1) if resi_connection == "1conv" else nn.Identity()
        )
        self.conv_before_upsample = nn.Sequential(
            nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True)
        )
        self.upsample = PixelShuffleUpsample(scale, NUM_FEAT)
        self.conv_last = nn.Conv2d(NUM_FEAT, in_channels, 3, 1, 1)
        init_transformer_weights(self)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo(
            "hat",
            hparams["scale"],
            channels,
            channels,
            color_space(channels),
            size_multiple=hparams["window_size"],
            precisions=TRANSFORMER_PRECISIONS,
            tiling="seamless",
            # windows plus the overlapping cross-attention: at window 16, 64 pixels kept a tiled 512x512
            # within 0.81 levels of the whole image, 32 did not (47.7); at window 8, 32 gave 2.2 on 96x96
            # and 48 gave 0.06 (random weights, docs/transformers.md)
            tile_overlap=max(48, 4 * hparams["window_size"]),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features ``(B, C, H, W)`` -> ``(B, C, H, W)`` (``H``, ``W`` multiples of the window)."""
        t = self.patch_embed(x.permute(0, 2, 3, 1))
        for layer in self.layers:
            t = layer(t, self.relative_position_index_SA, self.relative_position_index_OCA)
        return self.norm(t).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped); any ``H``, ``W``."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.window)
        mean = self.mean.to(dtype=x.dtype)
        x = (x - mean) * self.img_range
        feat = self.conv_first(x)
        res = self.conv_after_body(self.forward_features(feat)) + feat
        out = self.conv_last(self.upsample(self.conv_before_upsample(res)))
        out = out / self.img_range + mean
        return out[..., : h * self.scale, : w * self.scale]
