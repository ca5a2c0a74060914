"""HR -> LR degradation: MATLAB-compatible resizing kernels and named degradation groups."""

from srkit.degrade.groups import GROUPS, DegradationGroup, DegradationStep, get_group, parse_groups
from srkit.degrade.resize import KERNELS, center_crop, contributions, mod_crop, resize, round_half_away

__all__ = [
    "GROUPS",
    "KERNELS",
    "DegradationGroup",
    "DegradationStep",
    "center_crop",
    "contributions",
    "get_group",
    "mod_crop",
    "parse_groups",
    "resize",
    "round_half_away",
]
