"""Training augmentations for (LR, HR) patch pairs.

Two kinds:

- geometric, applied identically to LR and HR: horizontal flip, vertical flip and transpose, each with
  probability 0.5; together they give the 8 transforms of the dihedral group (identity, the three 90 degree
  rotations, and the four mirrors) with equal probability;
- LR-only degradations, off unless enabled: JPEG compression through Pillow in memory (probability
  ``jpeg_prob``, integer quality drawn uniformly from ``jpeg_quality``) and coarse dropout (probability
  ``dropout_prob``, a few rectangles of the LR patch set to zero or to the patch's per-channel mean).

Order inside :func:`augment_pair`: JPEG (on the uint8 LR), conversion to float32 in ``[0, 1]``, dropout
(LR), then the geometric transform (both). Every random number comes from the generator passed in, so a
sample is reproducible from its seed alone. The same numbers are drawn whatever the configuration (except
the dropout rectangles, drawn last), so that switching one augmentation on or off leaves the others'
draws unchanged.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image as PILImage

from srkit.errors import ConfigError

DROPOUT_FILLS: tuple[str, ...] = ("zero", "mean")


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations a training sample gets (see the module docstring).

    ``hflip``/``vflip``/``transpose`` enable the geometric transforms (on by default); ``jpeg`` and
    ``dropout`` enable the LR-only degradations (off by default). ``jpeg_quality`` is an inclusive
    ``(low, high)`` range in ``[1, 100]``; ``dropout_holes`` an inclusive ``(min, max)`` count of
    rectangles; ``dropout_size`` the ``(min, max)`` side of a rectangle as a fraction of the patch side;
    ``dropout_fill`` is ``'zero'`` or ``'mean'``.
    """

    hflip: bool = True
    vflip: bool = True
    transpose: bool = True
    jpeg: bool = False
    jpeg_prob: float = 0.25
    jpeg_quality: tuple[int, int] = (30, 95)
    dropout: bool = False
    dropout_prob: float = 0.25
    dropout_holes: tuple[int, int] = (1, 3)
    dropout_size: tuple[float, float] = (0.1, 0.3)
    dropout_fill: str = "zero"

    def __post_init__(self) -> None:
        for key in ("jpeg_quality", "dropout_holes", "dropout_size"):  # YAML gives lists
            object.__setattr__(self, key, _pair(getattr(self, key), key))
        for key in ("jpeg_prob", "dropout_prob"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ConfigError(f"augment.{key}: must be a probability in [0, 1], got {value!r}")
        lo, hi = self.jpeg_quality
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 100):
            raise ConfigError(
                f"augment.jpeg_quality: must be integers 1 <= low <= high <= 100, got {self.jpeg_quality!r}"
            )
        lo, hi = self.dropout_holes
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise ConfigError(
                f"augment.dropout_holes: must be integers 1 <= min <= max, got {self.dropout_holes!r}"
            )
        size_lo, size_hi = self.dropout_size
        if not (
            isinstance(size_lo, (int, float))
            and isinstance(size_hi, (int, float))
            and 0.0 < size_lo <= size_hi <= 1.0
        ):
            raise ConfigError(
                f"augment.dropout_size: must satisfy 0 < min <= max <= 1, got {self.dropout_size!r}"
            )
        if self.dropout_fill not in DROPOUT_FILLS:
            raise ConfigError(
                f"augment.dropout_fill: must be one of {', '.join(DROPOUT_FILLS)}, got {self.dropout_fill!r}"
            )


def _pair(value: object, key: str) -> tuple:
    """``value`` as a 2-tuple; :class:`ConfigError` naming ``augment.<key>`` otherwise."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ConfigError(f"augment.{key}: must be a (low, high) pair, got {value!r}")
    return tuple(value)


def dihedral(x: torch.Tensor, hflip: bool, vflip: bool, transpose: bool) -> torch.Tensor:
    """Apply a dihedral transform to the last two dims of ``x``: transpose first, then the flips.

    Returns a contiguous tensor (a copy when any transform applies).
    """
    if transpose:
        x = x.transpose(-1, -2)
    dims = [d for d, on in ((-1, hflip), (-2, vflip)) if on]
    if dims:
        x = torch.flip(x, dims)
    return x.contiguous()


def jpeg_compress(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-encode and decode a uint8 ``(C, H, W)`` tensor (C = 1 or 3) in memory with Pillow."""
    if x.dtype != torch.uint8 or x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ConfigError(
            f"jpeg_compress: expected a uint8 (C,H,W) tensor with C=1 or 3, got {x.dtype} {tuple(x.shape)}"
        )
    array = x.permute(1, 2, 0).numpy()
    pil = PILImage.fromarray(array[:, :, 0] if x.shape[0] == 1 else np.ascontiguousarray(array))
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        out = np.asarray(decoded.convert("L" if x.shape[0] == 1 else "RGB"))
    if out.ndim == 2:
        out = out[:, :, None]
    return torch.from_numpy(out.copy()).permute(2, 0, 1).contiguous()


def coarse_dropout(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Set ``cfg.dropout_holes`` random rectangles of a float ``(C, H, W)`` tensor to zero or to its
    per-channel mean (computed before any rectangle is filled). Returns a new tensor."""
    out = x.clone()
    _, h, w = out.shape
    fill = out.mean(dim=(-2, -1), keepdim=True) if cfg.dropout_fill == "mean" else None
    holes = int(rng.integers(cfg.dropout_holes[0], cfg.dropout_holes[1] + 1))
    for _ in range(holes):
        fh = rng.uniform(cfg.dropout_size[0], cfg.dropout_size[1])
        fw = rng.uniform(cfg.dropout_size[0], cfg.dropout_size[1])
        rh = max(1, min(h, math.ceil(fh * h)))
        rw = max(1, min(w, math.ceil(fw * w)))
        top = int(rng.integers(0, h - rh + 1))
        left = int(rng.integers(0, w - rw + 1))
        if fill is None:
            out[:, top : top + rh, left : left + rw] = 0.0
        else:
            out[:, top : top + rh, left : left + rw] = fill
    return out


def augment_pair(
    lr: torch.Tensor, hr: torch.Tensor, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a uint8 ``(C, h, w)`` LR patch and its uint8 ``(C, H, W)`` HR patch.

    Returns float32 tensors in ``[0, 1]`` (``uint8 / 255``). JPEG and dropout touch only the LR patch;
    the geometric transform is the same for both.
    """
    flips = rng.random(3) < 0.5  # hflip, vflip, transpose
    jpeg_draw = rng.random()
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    dropout_draw = rng.random()
    if cfg.jpeg and jpeg_draw < cfg.jpeg_prob:
        lr = jpeg_compress(lr, quality)
    lr_f = lr.to(torch.float32).div_(255.0)
    hr_f = hr.to(torch.float32).div_(255.0)
    if cfg.dropout and dropout_draw < cfg.dropout_prob:
        lr_f = coarse_dropout(lr_f, rng, cfg)
    transform = (bool(flips[0] and cfg.hflip), bool(flips[1] and cfg.vflip), bool(flips[2] and cfg.transpose))
    return dihedral(lr_f, *transform), dihedral(hr_f, *transform)
