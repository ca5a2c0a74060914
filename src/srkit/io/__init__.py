"""Image files in and out (:mod:`srkit.io.images`) and atomic file writes (:mod:`srkit.io.atomic`)."""

from srkit.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    MAX_PIXELS_ENV,
    Image,
    ImageHeader,
    ImageInfo,
    image_to_uint8,
    image_to_uint16,
    is_image_file,
    read_header,
    read_image,
    resolve_max_pixels,
    to_uint8,
    uint8_to_tensor,
    write_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "Image",
    "ImageHeader",
    "ImageInfo",
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
