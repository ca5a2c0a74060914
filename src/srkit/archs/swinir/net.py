"""SwinIR: Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021, laid out key for
key as the authors' ``models/network_swinir.py`` (JingyunLiang/SwinIR), so official checkpoints load.

Also the window-attention pieces HAT (:mod:`srkit.archs.hat`) shares: window partitioning, the relative
position index, the shifted-window masks and attention through
:func:`torch.nn.functional.scaled_dot_product_attention`.

Shifted-window masks
--------------------
The official code computes, for an ``H x W`` feature map, one ``(nW, N, N)`` mask (``N = w * w``): the
cyclic shift by ``s = w // 2`` puts pixels from the bottom and right edges next to pixels from the top
and left, and the mask adds -100 to the logits between tokens from different original regions. Only the
windows of the last window row and the last window column contain such pixels, and their masks do not
depend on ``H`` and ``W`` (inside such a window the region boundary is always ``w - s`` rows or columns
from its start). So srkit keeps three ``(N, N)`` masks per window size (last row, last column, corner),
attends the four groups of windows separately, and never needs the training ``img_size``: the
result equals the official ``calculate_mask(x_size)`` path for any input that is a multiple of the
window (``tests/test_swinir.py`` checks it against an explicit softmax with the official mask).

Padding
-------
``forward`` pads the bottom and right by reflection to a multiple of the window and crops the output
back, as the official network's ``check_image_size`` does (the runner pads the same way before, so
the network's own padding is a no-op there; it matters for training crops). The official test script
``main_test_swinir.py`` pads differently: it appends a *flipped* copy (symmetric padding, the edge
pixel repeated) and always pads by 1 to ``w`` pixels, a whole extra window when the side is already a
multiple; results then differ from srkit's in the last few rows and columns only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_bool, check_choice, check_float, check_int
from srkit.archs.contract import NetInfo, Precision, SRNet, color_space
from srkit.archs.runner import pad_to_multiple
from srkit.errors import ConfigError

#: Output factors SwinIR builds (1: the denoising / JPEG artefact-reduction models).
SWINIR_SCALES = (1, 2, 3, 4, 8)
#: Factors each reconstruction module serves.
UPSAMPLER_SCALES: dict[str, tuple[int, ...]] = {
    "pixelshuffle": (2, 3, 4, 8),
    "pixelshuffledirect": (2, 3, 4, 8),
    "nearest+conv": (2, 4),
    "": (1,),
}
RESI_CONNECTIONS = ("1conv", "3conv")
#: The DIV2K RGB mean the official code subtracts for 3-channel models (zeros otherwise).
SWINIR_RGB_MEAN = (0.4488, 0.4371, 0.4040)
#: Channels of the reconstruction convs (``num_feat`` in the official code, fixed there).
NUM_FEAT = 64
#: Logit added between tokens of different regions in shifted windows (the official value, not -inf).
MASK_VALUE = -100.0
#: fp16 overflows in SwinIR-M's pretrained activations (NaN outputs reported), so it is not offered.
TRANSFORMER_PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")


# --------------------------------------------------------------------------------------------------
# Hyper-parameter helpers
# --------------------------------------------------------------------------------------------------


def check_int_list(arch: str, key: str, value: Any, *, minimum: int = 1) -> list[int]:
    """``value`` as a non-empty list of integers ``>= minimum``; ConfigError otherwise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"{arch}: {key}={value!r} must be a non-empty list of integers")
    return [check_int(arch, key, v, minimum=minimum) for v in value]


def image_size(arch: str, value: Any) -> tuple[int, int]:
    """``img_size`` (an integer or ``[height, width]``) as ``(height, width)``."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        sides = check_int_list(arch, "img_size", value)
        if len(sides) != 2:
            raise ConfigError(f"{arch}: img_size={value!r} must be an integer or [height, width]")
        return sides[0], sides[1]
    side = check_int(arch, "img_size", value)
    return side, side


def check_heads(arch: str, dim: int, depths: list[int], heads: list[int]) -> None:
    """One head count per layer, each dividing ``dim``."""
    if len(heads) != len(depths):
        raise ConfigError(f"{arch}: num_heads has {len(heads)} entries but depths has {len(depths)}")
    for h in heads:
        if dim % h:
            raise ConfigError(f"{arch}: embed_dim={dim} is not divisible by num_heads={h}")


def check_block_options(
    arch: str, qkv_bias: object, patch_norm: object, drop_path_rate: object
) -> tuple[bool, bool, float]:
    """``(qkv_bias, patch_norm, drop_path_rate)`` checked: two booleans and a rate in [0, 1)."""
    qkv = check_bool(arch, "qkv_bias", qkv_bias)
    norm = check_bool(arch, "patch_norm", patch_norm)
    rate = check_float(arch, "drop_path_rate", drop_path_rate, positive=False)
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"{arch}: drop_path_rate={rate} must be in [0, 1)")
    return qkv, norm, rate


def hidden_features(arch: str, dim: int, mlp_ratio: float) -> int:
    """``int(dim * mlp_ratio)``, the official MLP width."""
    hidden = int(dim * mlp_ratio)
    if hidden < 1:
        raise ConfigError(f"{arch}: mlp_ratio={mlp_ratio} gives an MLP of {hidden} channels")
    return hidden


def image_mean(channels: int) -> torch.Tensor:
    """The official ``self.mean``: the DIV2K RGB mean for 3 channels, zeros otherwise."""
    if channels == 3:
        return torch.tensor(SWINIR_RGB_MEAN).view(1, 3, 1, 1)
    return torch.zeros(1, 1, 1, 1)


# --------------------------------------------------------------------------------------------------
# Windows, relative positions, masks, attention
# --------------------------------------------------------------------------------------------------


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B, H/w, W/w, w*w, C)``: windows in raster order, tokens row by row."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // window, w // window, window * window, c)


def window_reverse(windows: torch.Tensor, window: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B, nh, nw, w*w, C)`` -> ``(B, nh*w, nw*w, C)``."""
    b, nh, nw, _, c = windows.shape
    x = windows.view(b, nh, nw, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, nh * window, nw * window, c)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(..., N, heads*d)`` -> ``(..., heads, N, d)`` (channel ``head*d + j``, as the official reshape)."""
    *lead, n, c = x.shape
    return x.view(*lead, n, heads, c // heads).transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_heads`."""
    *lead, heads, n, d = x.shape
    return x.transpose(-3, -2).reshape(*lead, n, heads * d)


def relative_position_index(window: int) -> torch.Tensor:
    """``(w*w, w*w)`` index into a ``((2w-1)^2, heads)`` bias table (Swin/SwinIR's, row-major offsets)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def shift_masks(
    window: int, shift: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The masks of the shifted windows that hold pixels of two or more regions: ``(last row, last
    column, corner)``, each ``(w*w, w*w)`` float32 with 0 within a region and -100 across. They are cheap
    and built per call (no cache: a cache filled while tracing, e.g. for ONNX export, would keep traced
    tensors).

    Inside a window of the last window row the rows ``[0, w - s)`` come from the image's row band
    ``[H - w, H - s)`` (region label 1) and ``[w - s, w)`` from ``[H - s, H)`` (label 2); every other
    window lies in band 0. Columns likewise; the official labels are ``3 * row + column``.
    """
    inner = torch.zeros(window, dtype=torch.long, device=device)
    edge = (torch.arange(window, device=device) >= window - shift).long() + 1

    def mask(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        label = (3 * rows[:, None] + cols[None, :]).flatten()
        return torch.where(label[None, :] != label[:, None], MASK_VALUE, 0.0).to(torch.float32)

    return mask(edge, inner), mask(inner, edge), mask(edge, edge)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` for ``(..., heads, N, d)`` queries and ``(..., heads, M, d)``
    keys/values with a ``(heads, N, M)`` additive bias, through ``scaled_dot_product_attention``."""
    lead = q.shape[:-3]
    if q.numel() == 0:
        return q.new_empty(*lead, q.shape[-3], q.shape[-2], v.shape[-1])
    fq, fk, fv = (t.reshape(-1, *t.shape[-3:]) for t in (q, k, v))
    out = F.scaled_dot_product_attention(fq, fk, fv, attn_mask=bias.to(fq.dtype).unsqueeze(0))
    return out.view(*lead, *out.shape[-3:])


def window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, window: int, shift: int
) -> torch.Tensor:
    """Attention within windows: ``q``, ``k``, ``v`` are ``(B, nh, nw, heads, N, d)``; with ``shift`` > 0
    the windows of the last row/column get the shifted-window masks of :func:`shift_masks` (the four
    groups of windows are attended separately, each with one broadcast ``(heads, N, N)`` mask)."""
    if shift == 0:
        return attend(q, k, v, bias)
    row, col, corner = (m.to(dtype=bias.dtype) for m in shift_masks(window, shift, bias.device))

    def part(rows: slice, cols: slice, extra: torch.Tensor | None) -> torch.Tensor:
        mask = bias if extra is None else bias + extra
        return attend(q[:, rows, cols], k[:, rows, cols], v[:, rows, cols], mask)

    head, last = slice(0, -1), slice(-1, None)
    top = torch.cat([part(head, head, None), part(head, last, col)], dim=2)
    bottom = torch.cat([part(last, head, row), part(last, last, corner)], dim=2)
    return torch.cat([top, bottom], dim=1)


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


class DropPath(nn.Module):
    """Stochastic depth (per sample, training only), as timm's ``DropPath``."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def drop_path_rates(rate: float, depths: Sequence[int]) -> list[list[float]]:
    """The official stochastic-depth schedule: linear from 0 to ``rate`` over all blocks, split by layer."""
    total = sum(depths)
    rates = [float(r) for r in torch.linspace(0, rate, total, device="cpu")] if total else []
    out, start = [], 0
    for d in depths:
        out.append(rates[start : start + d])
        start += d
    return out


def resi_conv(dim: int, kind: str) -> nn.Module:
    """The conv before a residual connection: ``1conv`` (3x3) or ``3conv`` (3x3 to dim/4, LeakyReLU(0.2),
    1x1, LeakyReLU(0.2), 3x3 back; keys ``0``, ``2``, ``4``)."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, 1, 1),
        nn.LeakyReLU(negative_slope=0.2, inplace=True),
        nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
        nn.LeakyReLU(negative_slope=0.2, inplace=True),
        nn.Conv2d(dim // 4, dim, 3, 1, 1),
    )


def conv_hwc(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A conv on ``(B, H, W, C)`` features (permuted to ``(B, C, H, W)`` and back)."""
    return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class PixelShuffleUpsample(nn.Sequential):
    """The official ``Upsample``: per x2 stage a 3x3 conv to ``4 * num_feat`` and ``PixelShuffle(2)``, or
    one x3 stage (9x); convs at keys ``0``, ``2``, ``4``."""

    def __init__(self, scale: int, num_feat: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        else:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        super().__init__(*layers)


class PatchNorm(nn.Module):
    """The official ``PatchEmbed`` with patch size 1: only its LayerNorm (key ``norm``), or nothing."""

    def __init__(self, dim: int, enabled: bool) -> None:
        super().__init__()
        self.norm: nn.Module = nn.LayerNorm(dim) if enabled else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class WindowAttention(nn.Module):
    """Window multi-head self-attention with a learned relative position bias (keys ``qkv``, ``proj``,
    ``relative_position_bias_table``; ``relative_position_index`` is a non-persistent buffer)."""

    relative_position_index: torch.Tensor

    def __init__(self, dim: int, window: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.window = window
        self.heads = heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def bias(self) -> torch.Tensor:
        """``(heads, N, N)`` relative position bias."""
        n = self.window * self.window
        table = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return table.view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, shift: int) -> torch.Tensor:
        """``(B, H, W, C)`` (already cyclically shifted) -> ``(B, H, W, C)``."""
        c = x.shape[-1]
        windows = window_partition(x, self.window)
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(windows).split(c, dim=-1))
        out = window_attention(q, k, v, self.bias(), self.window, shift)
        return window_reverse(self.proj(merge_heads(out)), self.window)


class SwinTransformerBlock(nn.Module):
    """``x + attn(norm1 x)`` over (shifted) windows, then ``x + mlp(norm2 x)``; features ``(B, H, W, C)``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        shift: int,
        mlp_hidden: int,
        qkv_bias: bool,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = self.attn(h, self.shift)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(h)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class BasicLayer(nn.Module):
    """The blocks of one residual group (key ``blocks.j``); odd blocks use shifted windows."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class RSTB(nn.Module):
    """Residual Swin Transformer Block: ``x + conv(residual_group(x))`` (keys ``residual_group``,
    ``conv``)."""

    def __init__(self, blocks: Sequence[nn.Module], dim: int, resi_connection: str) -> None:
        super().__init__()
        self.residual_group = BasicLayer(blocks)
        self.conv = resi_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_hwc(self.conv, self.residual_group(x)) + x


def init_transformer_weights(module: nn.Module) -> None:
    """The official ``_init_weights``: Linear weights truncated-normal (std 0.02), biases 0; LayerNorm 1, 0;
    convolutions keep PyTorch's default."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def effective_window(img_size: tuple[int, int], window_size: int) -> tuple[int, bool]:
    """``(window, shifted)`` as the official blocks decide from ``img_size``: when the training image is
    not larger than the window, the window shrinks to it and no block is shifted."""
    side = min(img_size)
    if side <= window_size:
        return side, False
    return window_size, True


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------


class SwinIR(SRNet):
    """SwinIR (Liang et al. 2021) with the official state-dict layout.

    ``conv_first`` -> ``patch_embed.norm`` -> residual Swin Transformer blocks ``layers.i`` (each
    ``residual_group.blocks.j`` = ``norm1``, window attention ``attn.{qkv, proj,
    relative_position_bias_table}``, ``norm2``, ``mlp.fc1/fc2``; odd blocks shift the windows by
    ``w // 2``; then ``conv``, and the group's input added) -> ``norm`` -> ``conv_after_body`` + long skip
    from ``conv_first`` -> reconstruction:

    - ``pixelshuffle`` (classical SR): ``conv_before_upsample`` (to 64, LeakyReLU) -> ``upsample``
      (sub-pixel stages) -> ``conv_last``;
    - ``pixelshuffledirect`` (lightweight SR): ``upsample.0`` straight to ``3 * scale^2`` channels and
      ``PixelShuffle(scale)``;
    - ``nearest+conv`` (real-world SR): ``conv_before_upsample``, then per x2 stage nearest x2 +
      ``conv_up1`` (+ ``conv_up2`` at x4) + LeakyReLU(0.2), ``conv_hr`` + LeakyReLU(0.2), ``conv_last``
      (the current official file asserts x4; x2 omits ``conv_up2``, as the x2 real-SR variants do);
    - ``''`` (denoising, JPEG artefact reduction; scale 1): ``input + conv_last(features)``.

    The image is mapped to ``(x - mean) * img_range`` first and back after (mean: the DIV2K RGB mean for
    3 channels, zeros otherwise; ``img_range`` 1 except the JPEG models' 255), as in the official code.

    The official variants (``presets`` of the registry), with their parameter counts (parameters only;
    the ``relative_position_index`` and ``attn_mask`` buffers of the official modules are not parameters):

    - lightweight **SwinIR-S**: ``embed_dim`` 60, ``depths`` [6]*4, ``num_heads`` [6]*4, window 8, MLP
      ratio 2, ``pixelshuffledirect``: 910,152 parameters at x2;
    - classical **SwinIR-M**: 180, [6]*6, [6]*6, ``pixelshuffle``: 11,900,199 at x4 (any ``img_size``);
    - real-SR **SwinIR-M** with ``nearest+conv``, and **SwinIR-L**: 240, [6]*9, [8]*9, ``3conv``.

    Hyper-parameters not offered (fixed in every official model): ``patch_size`` 1, ``ape`` (absolute
    position embedding) off, ``qk_scale`` default, dropout 0.

    Args:
        in_channels: image channels (output channels are the same).
        embed_dim: transformer channels.
        depths: blocks per residual group; num_heads: attention heads per group.
        window_size: attention window side (8; 7 for the JPEG models); the input is padded to a multiple.
        mlp_ratio: MLP width / ``embed_dim``.
        scale: output factor (1 with ``upsampler=''``).
        upsampler: ``'pixelshuffle'``, ``'pixelshuffledirect'``, ``'nearest+conv'`` or ``''``.
        resi_connection: ``'1conv'`` or ``'3conv'`` (the conv of each group and ``conv_after_body``).
        img_range: value range the network works in.
        img_size: training patch size; matters only when it is not larger than ``window_size`` (the window
            then shrinks to it and nothing is shifted, as in the official code).
        qkv_bias: biases in the ``qkv`` projections.
        patch_norm: LayerNorm after the patch embedding (``patch_embed.norm``).
        drop_path_rate: stochastic depth for training (the official default 0.1; no effect in eval).
    """

    no_decay_keywords = ("relative_position_bias_table", "absolute_pos_embed")

    mean: torch.Tensor

    def __init__(
        self,
        in_channels: int = 3,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6),
        window_size: int = 8,
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
        arch = "swinir"
        in_channels = check_int(arch, "in_channels", in_channels)
        embed_dim = check_int(arch, "embed_dim", embed_dim)
        depth_list = check_int_list(arch, "depths", depths)
        head_list = check_int_list(arch, "num_heads", num_heads)
        check_heads(arch, embed_dim, depth_list, head_list)
        window_size = check_int(arch, "window_size", window_size)
        mlp_ratio = check_float(arch, "mlp_ratio", mlp_ratio)
        hidden = hidden_features(arch, embed_dim, mlp_ratio)
        upsampler = check_choice(arch, "upsampler", upsampler, tuple(UPSAMPLER_SCALES))
        scale = check_choice(arch, "scale", scale, SWINIR_SCALES)
        if scale not in UPSAMPLER_SCALES[upsampler]:
            valid = "/".join(f"x{s}" for s in UPSAMPLER_SCALES[upsampler])
            raise ConfigError(f"{arch}: upsampler={upsampler!r} builds {valid}, not scale={scale}")
        resi_connection = check_choice(arch, "resi_connection", resi_connection, RESI_CONNECTIONS)
        if resi_connection == "3conv" and embed_dim < 4:
            raise ConfigError(f"{arch}: resi_connection='3conv' needs embed_dim >= 4, got {embed_dim}")
        img_range = check_float(arch, "img_range", img_range)
        size = image_size(arch, img_size)
        qkv_bias, patch_norm, drop_path_rate = check_block_options(arch, qkv_bias, patch_norm, drop_path_rate)

        self.window, shifted = effective_window(size, window_size)
        self.scale = scale
        self.upsampler = upsampler
        self.img_range = img_range
        self.register_buffer("mean", image_mean(in_channels), persistent=False)

        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim, patch_norm)
        shift = self.window // 2 if shifted else 0
        self.layers = nn.ModuleList()
        for heads, rates in zip(head_list, drop_path_rates(drop_path_rate, depth_list), strict=True):
            blocks = [
                SwinTransformerBlock(
                    embed_dim, heads, self.window, shift if j % 2 else 0, hidden, qkv_bias, r
                )
                for j, r in enumerate(rates)
            ]
            self.layers.append(RSTB(blocks, embed_dim, resi_connection))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)

        self.upsample: nn.Module
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True)
            )
            self.upsample = PixelShuffleUpsample(scale, NUM_FEAT)
            self.conv_last = nn.Conv2d(NUM_FEAT, in_channels, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, scale * scale * in_channels, 3, 1, 1), nn.PixelShuffle(scale)
            )
        elif upsampler == "nearest+conv":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True)
            )
            self.conv_up1 = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            if scale == 4:
                self.conv_up2 = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_hr = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_last = nn.Conv2d(NUM_FEAT, in_channels, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        else:
            self.conv_last = nn.Conv2d(embed_dim, in_channels, 3, 1, 1)
        init_transformer_weights(self)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        window, _ = effective_window(image_size("swinir", hparams["img_size"]), hparams["window_size"])
        return NetInfo(
            "swinir",
            hparams["scale"],
            channels,
            channels,
            color_space(channels),
            size_multiple=window,
            precisions=TRANSFORMER_PRECISIONS,
            tiling="seamless",
            # shifted windows carry information across window borders block after block: with 16 pixels
            # a tiled 512x512 differed from the whole image by up to 70 levels, with 48 (window 8) by
            # 0.47 (random weights; docs/transformers.md)
            tile_overlap=max(16, 6 * window),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The deep features ``(B, C, H, W)`` -> ``(B, C, H, W)`` (``H``, ``W`` multiples of the window)."""
        t = self.patch_embed(x.permute(0, 2, 3, 1))
        for layer in self.layers:
            t = layer(t)
        return self.norm(t).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped); any ``H``, ``W``."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.window)
        mean = self.mean.to(dtype=x.dtype)
        x = (x - mean) * self.img_range
        feat = self.conv_first(x)
        res = self.conv_after_body(self.forward_features(feat)) + feat
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(res)))
        elif self.upsampler == "pixelshuffledirect":
            out = self.upsample(res)
        elif self.upsampler == "nearest+conv":
            y = self.conv_before_upsample(res)
            y = self.lrelu(self.conv_up1(F.interpolate(y, scale_factor=2, mode="nearest")))
            if self.scale == 4:
                y = self.lrelu(self.conv_up2(F.interpolate(y, scale_factor=2, mode="nearest")))
            out = self.conv_last(self.lrelu(self.conv_hr(y)))
        else:
            out = x + self.conv_last(res)
        out = out / self.img_range + mean
        return out[..., : h * self.scale, : w * self.scale]
