"""LapSRN as twtygqyy/pytorch-LapSRN stores it (a state dict extracted from its
``model_epoch_100.pth``; srkit's keys) -> srkit ``lapsrn``.

``conv_input``, per level ``k`` (from 1) ``convt_I{k}`` (image upsampling), ``convt_R{k}`` (residual)
and ``convt_F{k}.0.cov_block.N`` (3x3 convs at the even indices, the transposed conv last); no biases.
``num_feat`` and ``channels`` from ``conv_input``, ``scale`` = 2 ** levels, ``depth`` from the convs of a
level (every level must have the same). The network serves every level's factor, so a ``--scale``
that is one of them (x2 of a x4 model) is accepted; ``scale`` stays the top level's.

The port's own ``model_epoch_100.pth`` pickles the whole module (``{'epoch', 'model'}``) and is refused
by the safe loader; the state dict has to be extracted first.
"""

from __future__ import annotations

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape

LAPSRN = "lapsrn"


def _depth(state: StateDict, hints: Hints, level: int, num_feat: int) -> int:
    layout = LAPSRN
    layers = indices(state, rf"convt_F{level}\.0\.cov_block\.(\d+)\.weight")
    if not layers or layers != list(range(0, 2 * len(layers), 2)):
        raise hints.error(layout, f"convt_F{level} layers are at {layers}, expected 0, 2, 4, ...")
    last = shape(state, f"convt_F{level}.0.cov_block.{layers[-1]}.weight", hints, layout)
    if last != (num_feat, num_feat, 4, 4):
        raise hints.error(layout, f"convt_F{level} ends in shape {last}, expected a 4x4 transposed conv")
    return len(layers) - 1


def convert_lapsrn(state: StateDict, hints: Hints) -> Converted:
    """LapSRN: levels, depth, features and channels from the shapes."""
    layout = LAPSRN
    num_feat, channels = shape(state, "conv_input.weight", hints, layout)[:2]
    levels = check_run(hints, layout, indices(state, r"convt_I(\d+)\.weight"), 1, "pyramid levels")
    depths = {_depth(state, hints, k, num_feat) for k in range(1, levels + 1)}
    if len(depths) != 1:
        raise hints.error(layout, f"the pyramid levels have different depths {sorted(depths)}")
    scale = 2**levels
    served = [2**k for k in range(1, levels + 1)]
    if hints.scale is not None and hints.scale not in served:
        raise hints.error(
            layout, f"the weights serve {'/'.join(f'x{s}' for s in served)}, not x{hints.scale}"
        )
    hparams = {"scale": scale, "num_feat": num_feat, "depth": depths.pop(), "channels": channels}
    return "lapsrn", hparams, dict(state)


FORMATS = (
    CheckpointFormat(
        LAPSRN,
        "LapSRN, pytorch-LapSRN layout (conv_input, convt_I{k}, convt_R{k}, convt_F{k}.0.cov_block.N)",
        ("conv_input.weight", "convt_I1.weight", "convt_R1.weight", "convt_F1.0.cov_block.0.weight"),
        convert_lapsrn,
    ),
)
