"""SRVGGNetCompact as Real-ESRGAN/BasicSR publish it (``realesr-animevideov3.pth``,
``realesr-general-x4v3.pth``; srkit's keys) -> srkit ``srvgg_compact``.

``body.N`` convs at the even indices, PReLU slopes (1-D, ``num_feat`` values) at the odd ones, the last
conv at the highest index. ``channels`` and ``num_feat`` come from ``body.0``, ``num_conv`` from the
number of convs (all but the first and the last), ``scale`` from the last conv's output channels
(``channels * scale**2``; the skip makes the output channels equal the input's). Only PReLU models
convert: a ReLU/LeakyReLU model stores no activation tensors, so the keys cannot tell which it was
(and no released model is one)."""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

SRVGG = "srvgg-compact"


def convert_srvgg(state: StateDict, hints: Hints) -> Converted:
    """Real-ESRGAN SRVGGNetCompact: every hyper-parameter from the shapes."""
    layout = SRVGG
    first = shape(state, "body.0.weight", hints, layout)
    if len(first) != 4 or first[2:] != (3, 3):
        raise hints.error(layout, f"body.0 has shape {first}, expected a 3x3 conv")
    num_feat, channels = first[:2]
    layers = indices(state, r"body\.(\d+)\.weight")
    count = check_run(hints, layout, layers, 0, "body layers")
    convs = [i for i in layers if state[f"body.{i}.weight"].dim() == 4]
    slopes = [i for i in layers if state[f"body.{i}.weight"].dim() == 1]
    if convs != list(range(0, count, 2)) or slopes != list(range(1, count, 2)) or count % 2 == 0:
        raise hints.error(
            layout,
            f"convs at {convs} and PReLU slopes at {slopes}; expected convs at even indices, PReLUs at "
            "odd ones and a conv last",
        )
    for i in slopes:
        slope = shape(state, f"body.{i}.weight", hints, layout)
        if slope != (num_feat,):
            raise hints.error(layout, f"body.{i} (PReLU) has shape {slope}, expected ({num_feat},)")
    last = shape(state, f"body.{convs[-1]}.weight", hints, layout)[0]
    ratio, rest = divmod(last, channels)
    scale = round(ratio**0.5)
    if rest or scale * scale != ratio:
        raise hints.error(layout, f"the last conv has {last} outputs, not {channels} x scale^2")
    scale = hints.check_scale(layout, scale, f"last conv {last} = {channels} x {scale}^2 channels")
    hparams = {
        "channels": channels,
        "num_feat": num_feat,
        "num_conv": len(convs) - 2,
        "scale": scale,
        "act_type": "prelu",
    }
    return "srvgg_compact", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        SRVGG,
        "SRVGGNetCompact, Real-ESRGAN layout (body.N convs and PReLUs; realesr-animevideov3, general-x4v3)",
        ("body.0.weight", "body.1.weight", "body.2.weight", "body.3.weight"),
        convert_srvgg,
    ),
)
