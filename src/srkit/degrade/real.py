"""Degradations beyond resampling kernels, as the real-world SR literature degrades LR: Gaussian blur
before downscaling, additive Gaussian noise and JPEG compression after it.

Convention followed: the "classical" degradation model ``y = JPEG_q((x * k) downscaled_s + n)`` of
SRMD (Zhang et al. 2018), BSRGAN (Zhang et al. 2021) and Real-ESRGAN's first order (Wang et al. 2021),
with every parameter fixed and named in the group (no random sampling of parameters), so that a group
is one reproducible test condition:

- ``blur``: a normalised Gaussian kernel ``k`` on the HR image, isotropic (``sigma``) or anisotropic
  (``sigma_1``, ``sigma_2`` and the angle of the first axis in degrees, covariance
  ``R diag(sigma_1^2, sigma_2^2) R^T``), ``2 ceil(3 sigma_max) + 1`` taps square, borders replicated
  (MATLAB ``imfilter(..., 'replicate')``, as SRMD's scripts); uint8 images are filtered in float64 and
  rounded half away from zero;
- the group's resize kernel (bicubic unless named) as MATLAB ``imresize``;
- ``noise``: i.i.d. Gaussian noise of standard deviation ``sigma`` on the 0..255 scale, per channel,
  then rounded and clipped for uint8 images (clipped to [0, 1] for float ones);
- ``jpeg``: a baseline JPEG round trip with Pillow at ``quality`` (4:2:0 chroma subsampling, Pillow's
  default, as OpenCV's ``imencode`` used by BSRGAN/Real-ESRGAN).

Randomness (the noise) comes from a generator seeded by the group's name, a seed and the bytes of the
image given to the group, so the LR of an image under a group is a pure function of ``(image, group,
seed)``: evaluation is reproducible, and two images never share a noise field.
"""

from __future__ import annotations

import io
import math
import re
import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from srkit.errors import ConfigError

__all__ = ["AddNoise", "GaussianBlur", "JpegRoundTrip", "parse_component", "seeded_generator"]


def _round_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float values in 0..255 -> uint8, rounded half away from zero (MATLAB) and clipped."""
    return torch.sign(x).mul_(torch.abs(x).add_(0.5).floor_()).clamp_(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class GaussianBlur:
    """A fixed Gaussian blur of the HR image (module docstring): ``sigma_2 = None`` is isotropic."""

    kind: ClassVar[str] = "blur"

    sigma_1: float
    sigma_2: float | None = None
    angle: float = 0.0

    def __post_init__(self) -> None:
        for value in (self.sigma_1, self.sigma_2):
            if value is not None and not (math.isfinite(value) and 0 < value <= 20):
                raise ConfigError(f"degradation: blur sigma must lie in (0, 20], got {value}")

    @property
    def name(self) -> str:
        """``blur1.6`` or ``blur2x0.5a45``."""
        if self.sigma_2 is None:
            return f"blur{self.sigma_1:g}"
        return f"blur{self.sigma_1:g}x{self.sigma_2:g}a{self.angle:g}"

    @property
    def radius(self) -> int:
        """Half the kernel side in HR pixels, ``ceil(3 sigma_max)``."""
        return math.ceil(3 * max(self.sigma_1, self.sigma_2 or 0.0))

    def kernel(self) -> torch.Tensor:
        """The normalised ``(2r + 1, 2r + 1)`` float64 kernel."""
        r = self.radius
        y, x = torch.meshgrid(
            torch.arange(-r, r + 1, dtype=torch.float64),
            torch.arange(-r, r + 1, dtype=torch.float64),
            indexing="ij",
        )
        s1, s2 = self.sigma_1, self.sigma_1 if self.sigma_2 is None else self.sigma_2
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        u, v = c * x + s * y, -s * x + c * y  # coordinates along the first and second axis
        k = torch.exp(-0.5 * ((u / s1) ** 2 + (v / s2) ** 2))
        return k / k.sum()

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """Blur ``(..., H, W)`` (uint8: rounded back to uint8; float: in its own dtype)."""
        shape, r = hr.shape, self.radius
        x = hr.reshape(-1, 1, *shape[-2:]).to(torch.float64)
        x = F.pad(x, (r, r, r, r), mode="replicate")
        out = F.conv2d(x, self.kernel()[None, None]).reshape(shape)
        return _round_uint8(out) if hr.dtype == torch.uint8 else out.to(hr.dtype)


@dataclass(frozen=True)
class AddNoise:
    """Additive Gaussian noise of ``sigma`` on the 0..255 scale (module docstring)."""

    kind: ClassVar[str] = "noise"

    sigma: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma) and 0 < self.sigma <= 100):
            raise ConfigError(f"degradation: noise sigma must lie in (0, 100], got {self.sigma}")

    @property
    def name(self) -> str:
        return f"noise{self.sigma:g}"

    def __call__(self, lr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(lr.shape, generator=generator, dtype=torch.float64)
        if lr.dtype == torch.uint8:
            return _round_uint8(lr.to(torch.float64) + self.sigma * noise)
        return (lr.to(torch.float64) + (self.sigma / 255.0) * noise).clamp_(0.0, 1.0).to(lr.dtype)


@dataclass(frozen=True)
class JpegRoundTrip:
    """A JPEG encode/decode at ``quality`` (module docstring)."""

    kind: ClassVar[str] = "jpeg"

    quality: int

    def __post_init__(self) -> None:
        if isinstance(self.quality, bool) or not 1 <= self.quality <= 100:
            raise ConfigError(f"degradation: JPEG quality must be an integer in 1..100, got {self.quality}")

    @property
    def name(self) -> str:
        return f"jpeg{self.quality}"

    def __call__(self, lr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        from PIL import Image as PILImage

        flat = lr if lr.dtype == torch.uint8 else _round_uint8(lr.to(torch.float64) * 255.0)
        lead, (c, h, w) = flat.shape[:-3], flat.shape[-3:]
        if c not in (1, 3):
            raise ConfigError(f"degradation: JPEG needs 1 or 3 channels, got {c}")
        out = []
        for image in flat.reshape(-1, c, h, w):
            arr = image.permute(1, 2, 0).numpy()
            pil = PILImage.fromarray(arr[..., 0] if c == 1 else arr)
            buffer = io.BytesIO()
            pil.save(buffer, format="JPEG", quality=int(self.quality))
            buffer.seek(0)
            with PILImage.open(buffer) as decoded:
                back = np.asarray(decoded.convert("L" if c == 1 else "RGB"))
            out.append(torch.from_numpy(back.reshape(h, w, c).copy()).permute(2, 0, 1))
        result = torch.stack(out).reshape(*lead, c, h, w)
        return result if lr.dtype == torch.uint8 else result.to(lr.dtype) / 255.0


_BLUR = re.compile(r"blur(?P<s1>\d+(?:\.\d+)?)(?:x(?P<s2>\d+(?:\.\d+)?)a(?P<angle>-?\d+(?:\.\d+)?))?")
_NOISE = re.compile(r"noise(?P<sigma>\d+(?:\.\d+)?)")
_JPEG = re.compile(r"jpeg(?P<quality>\d+)")


def parse_component(text: str) -> GaussianBlur | AddNoise | JpegRoundTrip | None:
    """``blur1.6``, ``blur2x0.5a45``, ``noise10`` or ``jpeg50`` -> its step; ``None`` for anything else."""
    if m := _BLUR.fullmatch(text):
        s2 = m["s2"]
        return GaussianBlur(float(m["s1"]), None if s2 is None else float(s2), float(m["angle"] or 0.0))
    if m := _NOISE.fullmatch(text):
        return AddNoise(float(m["sigma"]))
    if m := _JPEG.fullmatch(text):
        return JpegRoundTrip(int(m["quality"]))
    return None


def seeded_generator(name: str, seed: int, image: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded by ``(name, seed, the image's bytes)`` (module docstring)."""
    data = image.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    key = zlib.crc32(f"{name}|{int(seed)}|".encode())
    return torch.Generator().manual_seed(zlib.crc32(data.tobytes(), key))  # CPU generators take 32 bits
