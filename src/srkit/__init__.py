"""srkit: single-image super-resolution toolkit.

Import cost is kept low: subpackages are imported where they are used, so one missing optional
dependency never breaks ``import srkit``.
"""

from srkit.errors import SrkitError

__version__ = "0.1.0"

__all__ = ["SrkitError", "__version__"]
