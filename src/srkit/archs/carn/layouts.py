"""CARN-M as its authors publish it (nmhkahn/CARN-pytorch, ``checkpoint/carn_m.pth``; srkit's keys) ->
srkit ``carn_m``.

``sub_mean.shifter``/``add_mean.shifter`` (the fixed mean shift), ``entry``, ``bK.b1.body.{0,2,4}`` (the
shared efficient residual block of cascading block K), ``bK.c{1,2,3}.body.0``, ``c{1,2,3}.body.0``,
``upsample.up{2,3,4}.body.N`` (multi-scale) or ``upsample.up.body.N`` (one factor), ``exit``.
``num_feat`` from ``entry``, ``group`` from the residual block's grouped 3x3 conv (``num_feat / group``
inputs per filter), ``multi_scale`` from the branch names; a single branch's factor from its convs
(one conv to 4x or 9x the features: x2 or x3; two or three to 4x: x4 or x8). The multi-scale network
serves x2, x3 and x4 whatever ``scale`` is (the factor of calls that name none): the user's
``--scale`` when given, else 4.

The full CARN (ordinary residual blocks ``bK.b1``/``bK.b2``/``bK.b3`` in each cascading block) is a
different network and is refused.
"""

from __future__ import annotations

from srkit.archs.carn.net import MULTI_SCALES
from srkit.archs.layouts import (
    CheckpointFormat,
    Converted,
    Hints,
    StateDict,
    indices,
    shape,
    subpixel_factors,
)

CARN_M = "carn-m"


def _branch(state: StateDict, hints: Hints, prefix: str, num_feat: int) -> int:
    """The factor of the upsampling branch ``prefix`` (``upsample.up2``) from its convs."""
    layout = CARN_M
    convs = indices(state, rf"{prefix}\.body\.(\d+)\.weight")
    if not convs or convs != list(range(0, 3 * len(convs), 3)):
        raise hints.error(layout, f"{prefix} convs are at {convs}, expected body.0, body.3, ...")
    outs = [shape(state, f"{prefix}.body.{i}.weight", hints, layout)[0] for i in convs]
    factors = subpixel_factors(hints, layout, outs, num_feat, prefix)
    scale = 1
    for f in factors:
        scale *= f
    return scale


def convert_carn_m(state: StateDict, hints: Hints) -> Converted:
    """CARN-M: ``num_feat``, ``group``, ``multi_scale`` and the branches' factors from the shapes."""
    layout = CARN_M
    if "b1.b2.body.0.weight" in state:
        raise hints.error(layout, "this is the full CARN (bK.b2 residual blocks), which srkit does not read")
    num_feat, channels = shape(state, "entry.weight", hints, layout)[:2]
    if channels != 3:
        raise hints.error(layout, f"entry takes {channels} channels; CARN-M is an RGB network")
    per_filter = shape(state, "b1.b1.body.0.weight", hints, layout)[1]
    group, rest = divmod(num_feat, per_filter)
    if rest:
        raise hints.error(layout, f"b1.b1.body.0 takes {per_filter} channels per filter of {num_feat}")
    branches = {s: f"upsample.up{s}" for s in MULTI_SCALES}
    present = [s for s, p in branches.items() if f"{p}.body.0.weight" in state]
    if present:
        if present != list(MULTI_SCALES):
            raise hints.error(layout, f"multi-scale branches up{present}; expected up2, up3 and up4")
        for s, prefix in branches.items():
            if _branch(state, hints, prefix, num_feat) != s:
                raise hints.error(layout, f"{prefix} does not upscale by x{s}")
        if hints.scale is not None and hints.scale not in MULTI_SCALES:
            raise hints.error(layout, f"the network serves x2/x3/x4, not x{hints.scale} as asked")
        scale = hints.scale if hints.scale is not None else max(MULTI_SCALES)
        multi_scale = True
    else:
        scale = _branch(state, hints, "upsample.up", num_feat)
        scale = hints.check_scale(layout, scale, "its upsampling convs")
        multi_scale = False
    hparams = {"scale": scale, "multi_scale": multi_scale, "num_feat": num_feat, "group": group}
    return "carn_m", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        CARN_M,
        "CARN-M, CARN-pytorch layout (sub_mean, entry, bK.b1/cK, cK, upsample.up{2,3,4}|up, exit)",
        ("entry.weight", "b1.b1.body.0.weight", "b1.c1.body.0.weight", "exit.weight"),
        convert_carn_m,
    ),
)
