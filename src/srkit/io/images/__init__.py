"""Image files in and out: PNG, JPEG, WebP, TIFF and BMP (and GIF, read only) as float tensors, written
back faithfully.

Reading gives an :class:`Image`: colour as a float32 ``(C, H, W)`` tensor in ``[0, 1]`` (C = 1 or 3),
alpha as a separate ``(1, H, W)`` tensor, and an :class:`ImageInfo` holding what is needed to write the
image back (bit depth, ICC profile, EXIF without orientation, dpi).

Modules:

- :mod:`~srkit.io.images.types`: :class:`Image`, :class:`ImageInfo`, :class:`ImageHeader`, suffixes,
  formats and the pixel limit's defaults;
- :mod:`~srkit.io.images.pixels`: float tensor <-> integer array conversions (rounding of
  :mod:`srkit.colour`);
- :mod:`~srkit.io.images.limits`: the header checks both readers go through: the pixel limit (by
  default what the available memory can upscale) and the bomb ratio (file size against declared pixels);
- :mod:`~srkit.io.images.decode`: :func:`read_image`, :func:`read_header`;
- :mod:`~srkit.io.images.tiffraw`: TIFF layouts Pillow cannot decode (float, planar 16-bit, 16-bit gray
  + alpha), with numpy and Pillow's own codecs;
- :mod:`~srkit.io.images.encode`: :func:`write_image` (atomic), 8-bit files through Pillow;
- :mod:`~srkit.io.images.png16`, :mod:`~srkit.io.images.tiff16`: the numpy encoders of 16-bit PNG and
  TIFF files, which Pillow cannot write.

Every failure is one :class:`~srkit.errors.ImageError` naming the file and the reason (an image over the
pixel limit or the bomb ratio: its subclass :class:`~srkit.errors.PixelLimitError`).
"""

from srkit.colour import to_uint8
from srkit.io.images.decode import read_header, read_image
from srkit.io.images.encode import write_image
from srkit.io.images.limits import available_memory, default_max_pixels, resolve_max_pixels
from srkit.io.images.pixels import image_to_uint8, image_to_uint16, uint8_to_tensor
from srkit.io.images.types import (
    BYTES_PER_INPUT_PIXEL,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    MAX_PIXELS_ENV,
    MAX_RATIO,
    MAX_RATIO_ENV,
    SUFFIX_FORMATS,
    Image,
    ImageHeader,
    ImageInfo,
    is_image_file,
)

__all__ = [
    "BYTES_PER_INPUT_PIXEL",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "MAX_RATIO",
    "MAX_RATIO_ENV",
    "SUFFIX_FORMATS",
    "Image",
    "ImageHeader",
    "ImageInfo",
    "available_memory",
    "default_max_pixels",
    "image_to_uint8",
    "image_to_uint16",
    "is_image_file",
    "read_header",
    "read_image",
    "resolve_max_pixels",
    "to_uint8",
    "uint8_to_tensor",
    "write_image",
]
