"""The Python API: ``srkit.load_model(...)`` -> :class:`SRModel`, whose ``upscale`` takes and returns
numpy arrays, PIL images and torch tensors.

>>> import srkit
>>> model = srkit.load_model("edsr-baseline-x4")            # doctest: +SKIP
>>> big = model.upscale(np.asarray(PIL.Image.open("a.png")))  # doctest: +SKIP

What comes back is the same kind of thing as what went in:

- numpy ``(H, W)`` or ``(H, W, C)`` (C = 1, 2 = gray + alpha, 3, 4 = RGB + alpha), ``uint8`` (/255),
  ``uint16`` (/65535) or float (values in [0, 1]) -> the same layout and dtype, ``scale`` times larger;
  integer results are rounded as :func:`srkit.io.write_image` rounds;
- PIL images: ``L``, ``LA``, ``RGB``, ``RGBA``, ``I;16`` (and ``I``, ``F``) keep their mode; ``1``
  becomes ``L``; ``P``/``PA`` become ``RGB``, or ``RGBA`` when they have transparency; ``CMYK``,
  ``YCbCr`` and other colour modes become ``RGB``; the ICC profile (``info['icc_profile']``) is carried
  over. The pixels are taken as they are (no EXIF orientation is applied to an in-memory image);
- torch float tensors ``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1] (C = 1-4 as for numpy) -> the same
  dtype and device;
- a path (``str`` or :class:`~pathlib.Path`) to an image file, read as ``srkit upscale`` reads it
  (:func:`srkit.io.read_image`: EXIF orientation applied, palette/CMYK to RGB(A), the pixel limit) ->
  a numpy ``(H, W, C)`` array (C = 1-4) with the file's bit depth (``uint8``, ``uint16`` for 16-bit
  files). :meth:`SRModel.upscale_file` writes the result to a file instead, as ``srkit upscale`` does
  (ICC profile, EXIF, dpi and srkit's provenance marker kept; atomic).

Alpha is upscaled with bicubic interpolation, colour with the model (see :mod:`srkit.infer.upscale`),
in blended tiles (:mod:`srkit.infer.tiling`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from srkit.archs import Upscaler
from srkit.errors import ConfigError
from srkit.infer.upscale import (
    OutputKeptError,
    TileSize,
    resolve_scale,
    upscale_array,
    upscale_file,
    upscale_image,
    upscale_tensor,
)
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image

__all__ = ["SRModel", "load_model"]

_INT_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _split_channels(channels: int, what: str) -> int:
    """Colour channels of a 1-4 channel image (2 and 4 carry alpha last)."""
    if channels not in (1, 2, 3, 4):
        raise ConfigError(
            f"upscale: {what} has {channels} channels; expected 1 (gray), 2 (gray+alpha), 3 or 4"
        )
    return 1 if channels <= 2 else 3


class SRModel:
    """An upscaler ready for images of any kind and size (see the module docstring).

    Attributes:
        scale: the factor ``upscale`` enlarges by.
        name: the model's name (file stem, named model or kernel).
        upscaler: the underlying :class:`~srkit.infer.upscalers.Upscaler`.
        tile, tile_overlap: the tiling (``tile`` ``None`` = automatic, 0 = whole image).
    """

    def __init__(
        self,
        upscaler: Upscaler,
        *,
        scale: int | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
    ) -> None:
        self.upscaler = upscaler
        self.scale = resolve_scale(upscaler, scale)
        self._tiles = TileSize(tile, tile_overlap)
        self.tile = tile
        self.tile_overlap = tile_overlap

    @property
    def name(self) -> str:
        return self.upscaler.name

    def __repr__(self) -> str:
        tiling = f"tile={self.tile}, tile_overlap={self.tile_overlap}"
        return f"SRModel({self.upscaler!r}, scale={self.scale}, {tiling})"

    def __call__(self, image: Any) -> Any:
        """Same as :meth:`upscale`."""
        return self.upscale(image)

    def upscale(self, image: Any) -> Any:
        """Upscale a numpy array, PIL image or torch tensor by :attr:`scale`; returns the same kind."""
        if isinstance(image, torch.Tensor):
            return self._tensor(image)
        if isinstance(image, np.ndarray):
            return self._array(image)
        if isinstance(image, PILImage.Image):
            return self._pil(image)
        if isinstance(image, str | Path):
            return self._path(Path(image))
        raise ConfigError(
            f"upscale: cannot upscale a {type(image).__name__}; "
            "pass a numpy array, a PIL image, a torch tensor or an image file path"
        )

    def upscale_file(self, source: str | Path, target: str | Path, *, overwrite: bool = False) -> Path:
        """Upscale the image file ``source`` into ``target`` (its suffix picks the format) the way
        ``srkit upscale`` writes outputs; ``overwrite`` replaces an existing srkit output there (never
        a file srkit did not write). Returns ``target``.

        Raises:
            SrkitError: one line naming the file: unreadable input, an existing output kept
                (:class:`srkit.infer.upscale.OutputKeptError`).
        """
        source, target = Path(source), Path(target)
        if not overwrite and (target.exists() or target.is_symlink()):
            raise OutputKeptError(target, "exists; kept (overwrite=True replaces an output srkit wrote)")
        upscale_file(self.upscaler, source, target, self.scale, tiles=self._tiles, overwrite=overwrite)
        return target

    # -- files ---------------------------------------------------------------------------------

    def _path(self, path: Path) -> np.ndarray:
        image = read_image(path)
        return upscale_image(
            self.upscaler, image, self.scale, tiles=self._tiles, bit_depth=image.info.bit_depth
        )

    # -- numpy ---------------------------------------------------------------------------------

    def _array(self, arr: np.ndarray) -> np.ndarray:
        if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
            raise ConfigError(f"upscale: expected an (H, W) or (H, W, C) array, got shape {arr.shape}")
        dtype = arr.dtype
        if dtype in _INT_MAX:
            planes = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32)).div_(_INT_MAX[dtype])
        elif dtype.kind == "f":
            planes = torch.from_numpy(np.asarray(arr, dtype=np.float32))
        else:
            raise ConfigError(f"upscale: unsupported array dtype {dtype}; use uint8, uint16 or float")
        planes = planes[None] if arr.ndim == 2 else planes.permute(2, 0, 1)
        colour = _split_channels(planes.shape[0], "the array")
        out = upscale_array(self.upscaler, planes, self.scale, colour=colour, tiles=self._tiles, dtype=dtype)
        return out[..., 0] if arr.ndim == 2 else out

    # -- PIL -----------------------------------------------------------------------------------

    def _pil(self, im: PILImage.Image) -> PILImage.Image:
        icc = im.info.get("icc_profile")
        mode = im.mode
        if mode == "1":
            im, mode = im.convert("L"), "L"
        elif mode in ("P", "PA"):
            target = "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
            im, mode = im.convert(target), target
        elif mode in ("La", "RGBa"):
            target = mode.upper()[:-1] + "A"
            im, mode = im.convert(target), target
        elif mode.startswith("I;16"):
            mode = "I;16"
        elif mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
            im, mode = im.convert("RGB"), "RGB"
        arr = np.asarray(im)
        if mode == "I;16":
            arr = arr.astype(np.uint16)
        elif mode == "I":
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        elif mode == "F":
            arr = arr.astype(np.float32)
        out = self._array(arr)
        if mode == "I":
            result = PILImage.fromarray(out.astype(np.int32), mode="I")
        else:
            result = PILImage.fromarray(out)
            if result.mode != mode:
                result = result.convert(mode)
        if icc:
            result.info["icc_profile"] = icc
        return result

    # -- torch ---------------------------------------------------------------------------------

    def _tensor(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point() or x.dim() not in (3, 4):
            raise ConfigError(
                f"upscale: expected a float (C, H, W) or (B, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}"
            )
        batch = x if x.dim() == 4 else x[None]
        colour = _split_channels(batch.shape[1], "the tensor")
        out = upscale_tensor(self.upscaler, batch.float(), self.scale, colour=colour, tiles=self._tiles)
        out = out.to(dtype=x.dtype, device=x.device)
        return out if x.dim() == 4 else out[0]


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    precision: str = "auto",
    tile: int | None = None,
    tile_overlap: int | None = None,
    scale: int | None = None,
) -> SRModel:
    """Load a model for upscaling images: a named model (``srkit models``), a weights file (srkit
    ``.safetensors`` or a known third-party checkpoint) or an interpolation baseline (``bicubic``...).

    Args:
        name_or_path: what ``srkit upscale --model`` accepts.
        device: ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ``'cuda:N'``.
        precision: ``'auto'`` (bf16 on CPUs with native bf16, fp16 on CUDA, else fp32), ``'fp32'``,
            ``'bf16'``, ``'fp16'``.
        tile: tile side in input pixels; ``None`` picks one from free memory, 0 processes images whole.
        tile_overlap: input pixels shared by neighbouring tiles (blended); ``None``: the network's
            (``NetInfo.tile_overlap``).
        scale: the factor; default: the network's own (4 for interpolation baselines).

    Raises:
        SrkitError: one line: unknown model, missing or broken weights, bad device/precision/tiling/scale.
    """
    TileSize(tile, tile_overlap)  # validate before loading anything
    upscaler = load_upscaler(name_or_path, device=device, precision=precision)
    return SRModel(upscaler, scale=scale, tile=tile, tile_overlap=tile_overlap)
