"""Third-party checkpoint layouts srkit converts, one module per network family.

:data:`FORMATS` lists them in the order :func:`srkit.io.thirdparty.detect_format` tries them; each is a
:class:`~srkit.io.formats.base.CheckpointFormat` (name, description, signature keys, converter).
"""

from srkit.io.formats import edsr, luma, msrresnet, rrdbnet
from srkit.io.formats.base import CheckpointFormat, Converted, Hints

FORMATS: tuple[CheckpointFormat, ...] = (
    *rrdbnet.FORMATS,
    *edsr.FORMATS,
    *msrresnet.FORMATS,
    *luma.FORMATS,
)

__all__ = ["FORMATS", "CheckpointFormat", "Converted", "Hints"]
