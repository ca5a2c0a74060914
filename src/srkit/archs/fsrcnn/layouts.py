"""FSRCNN as its public PyTorch port publishes it (yjn870/FSRCNN-pytorch; srkit's keys) -> srkit ``fsrcnn``.

``first_part.0`` conv (``d`` x ``channels`` x 5 x 5) and ``first_part.1`` PReLU, ``mid_part.{0, 2, ..}``
convs with PReLUs at the odd indices (shrink to ``s``, ``m`` 3x3 mapping convs, expand back to ``d``),
``last_part`` (ConvTranspose2d, 9x9). ``d``, ``s``, ``m`` and ``channels`` come from the shapes; the
scale is the deconvolution's stride, which is not a tensor, so it must come from the user (``--scale``)
or the file name (``fsrcnn_x3.pth``)."""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

FSRCNN = "fsrcnn"


def convert_fsrcnn(state: StateDict, hints: Hints) -> Converted:
    """FSRCNN: ``d``, ``s``, ``m`` from the shapes, the scale from the user or the file name."""
    layout = FSRCNN
    d, channels = shape(state, "first_part.0.weight", hints, layout)[:2]
    s = shape(state, "mid_part.0.weight", hints, layout)[0]
    mids = indices(state, r"mid_part\.(\d+)\.weight")
    check_run(hints, layout, mids, 0, "mid_part layers")
    convs = [i for i in mids if state[f"mid_part.{i}.weight"].dim() == 4]
    if convs != list(range(0, len(mids), 2)):
        raise hints.error(layout, f"mid_part convs are at {convs}, expected even indices (PReLUs between)")
    m = len(convs) - 2
    if m < 0:
        raise hints.error(layout, "mid_part needs at least the shrinking and the expanding conv")
    scale = hints.any_scale
    if scale is None:
        raise hints.error(
            layout,
            "the scale is not stored in the weights (it is the deconvolution's stride); name the file like "
            "fsrcnn_x3.pth or give it (srkit convert --scale 3, load_any_model(path, scale=3))",
        )
    return "fsrcnn", {"scale": scale, "channels": channels, "d": d, "s": s, "m": m}, dict(state)


FORMATS = (
    CheckpointFormat(
        FSRCNN,
        "FSRCNN, FSRCNN-pytorch layout (first_part, mid_part, last_part; scale from --scale or file name)",
        ("first_part.0.weight", "mid_part.0.weight", "last_part.weight"),
        convert_fsrcnn,
    ),
)
