"""GIF frames from 8-bit pixels: a palette of at most 256 colours per frame (Pillow's median cut, no
dithering, so that still areas stay still from frame to frame) and on/off transparency.

Transparency takes palette index :data:`TRANSPARENT_INDEX` in every frame, its colour
:data:`TRANSPARENT_KEY`; the opaque colours are quantised to the other 255 entries, and one equal to the
key is moved off it by one step of blue, so that no opaque pixel ever matches the transparent colour
(Pillow's GIF encoder compares frames by colour to crop them). Alpha of 50 % or more is opaque.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

__all__ = ["TRANSPARENT_INDEX", "TRANSPARENT_KEY", "gif_frame"]

#: Palette index of transparent pixels.
TRANSPARENT_INDEX = 255
#: The colour of the transparent palette entry (never an opaque pixel's).
TRANSPARENT_KEY = (1, 254, 3)
#: Alpha (8-bit) from which a pixel is opaque.
_OPAQUE_FROM = 128


def _palette(im: PILImage.Image, transparent: bool) -> list[int]:
    """``im``'s palette as 768 values; with ``transparent``, entry 255 is the key and no other is."""
    palette = list(im.getpalette() or [])[: 3 * 256]
    palette += [0] * (3 * 256 - len(palette))
    if transparent:
        key = list(TRANSPARENT_KEY)
        for start in range(0, 3 * TRANSPARENT_INDEX, 3):
            if palette[start : start + 3] == key:
                palette[start + 2] += 1 if palette[start + 2] < 255 else -1
        palette[3 * TRANSPARENT_INDEX :] = key
    return palette


def gif_frame(data: np.ndarray, transparent: bool) -> PILImage.Image:
    """uint8 ``(H, W, C)`` (C = 1-4; 2 and 4 end in alpha) -> a Pillow image GIF stores: ``'L'`` for
    opaque gray (256 exact levels), else ``'P'`` quantised to 256 colours, or to 255 plus the transparent
    index (``info['transparency']``) when ``transparent``."""
    channels = data.shape[2]
    has_alpha = channels in (2, 4)
    colour = data[..., :-1] if has_alpha else data
    if colour.shape[2] == 1 and not transparent:
        return PILImage.fromarray(np.ascontiguousarray(colour[..., 0]), "L")
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else np.ascontiguousarray(colour)
    quantised = PILImage.fromarray(rgb, "RGB").quantize(
        colors=TRANSPARENT_INDEX if transparent else 256,
        method=PILImage.Quantize.MEDIANCUT,
        dither=PILImage.Dither.NONE,
    )
    palette = _palette(quantised, transparent)
    if not transparent:
        quantised.putpalette(palette)
        return quantised
    index = np.asarray(quantised)
    if has_alpha:
        index = np.where(data[..., -1] < _OPAQUE_FROM, np.uint8(TRANSPARENT_INDEX), index)
    frame = PILImage.fromarray(np.ascontiguousarray(index, dtype=np.uint8), "P")
    frame.putpalette(palette)
    frame.info["transparency"] = TRANSPARENT_INDEX
    return frame
