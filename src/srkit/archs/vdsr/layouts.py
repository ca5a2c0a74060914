"""VDSR as its public PyTorch port publishes it (twtygqyy/pytorch-vdsr; srkit's keys) -> srkit ``vdsr``.

``input``, ``residual_layer.N.conv``, ``output`` (no biases). ``num_feat`` and ``channels`` from ``input``;
``num_layers`` = residual layers + 2. The network works on the bicubic-upsampled image, so one model
serves every scale (its NetInfo's ``scale`` is 1)."""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

VDSR = "vdsr"


def convert_vdsr(state: StateDict, hints: Hints) -> Converted:
    """VDSR: ``num_feat``, ``channels`` and ``num_layers`` from the shapes; scale 1 (upsampled input)."""
    layout = VDSR
    num_feat, channels = shape(state, "input.weight", hints, layout)[:2]
    layers = indices(state, r"residual_layer\.(\d+)\.conv\.weight")
    num_layers = check_run(hints, layout, layers, 0, "residual layers") + 2
    return "vdsr", {"channels": channels, "num_feat": num_feat, "num_layers": num_layers}, dict(state)


FORMATS = (
    CheckpointFormat(
        VDSR,
        "VDSR, pytorch-vdsr layout (input, residual_layer.N.conv, output)",
        ("input.weight", "residual_layer.0.conv.weight", "output.weight"),
        convert_vdsr,
    ),
)
