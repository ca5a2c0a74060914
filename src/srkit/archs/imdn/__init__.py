"""IMDN (Hui et al. 2019) in the authors' layout, and KAIR's simplified IMDN (the NTIRE 2022 baseline)."""

from srkit.archs.imdn import layouts
from srkit.archs.imdn.net import IMDN, IMDNKAIR
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "imdn",
    IMDN,
    layouts=layouts.FORMATS,
    summary="IMDN (Hui et al. 2019, AIM 2019 constrained SR): information multi-distillation blocks, CCA",
)
KAIR_ENTRY = register_arch(
    "imdn_kair",
    IMDNKAIR,
    layouts=layouts.KAIR_FORMATS,
    summary="simplified IMDN (KAIR; NTIRE 2022 efficient-SR baseline, 8 blocks): no CCA, global skip",
)

__all__ = ["ENTRY", "IMDN", "IMDNKAIR", "KAIR_ENTRY"]
