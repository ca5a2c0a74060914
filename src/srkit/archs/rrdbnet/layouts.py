"""RRDBNet (ESRGAN generator) checkpoints in their three historical layouts -> srkit ``rrdbnet``.

- **BasicSR / Real-ESRGAN** (also srkit's own keys): ``conv_first``, ``body.N.rdbM.convK``,
  ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``. Real-ESRGAN's x2 and x1 models
  pixel-unshuffle the input by 2 or 4, so ``conv_first`` takes 4x or 16x the image channels (12 or 48
  for RGB) and the x4 trunk follows.
- **ESRGAN "new arch"** (xinntao/ESRGAN after its 2019 rewrite, and the older BasicSR/mmsr):
  ``conv_first``, ``RRDB_trunk.N.RDBM.convK``, ``trunk_conv``, ``upconv1``, ``upconv2``, ``HRconv``,
  ``conv_last``.
- **ESRGAN "old arch"** (the published ``RRDB_ESRGAN_x4.pth`` and the community models built on it):
  one ``nn.Sequential`` ``model``: ``model.0`` first conv, ``model.1.sub.N.RDBM.convK.0`` blocks,
  ``model.1.sub.<num_block>`` trunk conv, then per upsampling stage an upsample module, a conv and an
  activation (convs at ``model.3``, ``model.6``, ... for nearest-neighbour stages), then the HR conv and
  the last conv (``model.8`` and ``model.10`` at x4; ``model.5``/``model.7`` at x2, ``model.11``/
  ``model.13`` at x8). The stages are counted from the keys: every ``model.I`` conv after ``model.1``
  but the last two is an upsampling conv.

Hyper-parameters come from tensor shapes: ``num_feat`` = ``conv_first`` output channels,
``num_grow_ch`` = the first dense conv's output channels, ``num_block`` = the number of RRDBs,
``out_channels`` = ``conv_last`` output channels, the upsampling stages from the ``conv_up`` convs
(``num_feat`` outputs: nearest-neighbour x2 stages; 4x or 9x ``num_feat``: sub-pixel x2/x3 stages).
The ESRGAN code bases upsample by fixed x2 nearest stages, so one nearest stage is x2, except that
the old arch's x3 variant has one x3 stage with the same weights: the scale the user gives, or the file
name's ``x3``, selects it.
"""

from __future__ import annotations

from srkit.archs.layouts import (
    CheckpointFormat,
    Converted,
    Hints,
    StateDict,
    check_run,
    indices,
    rename,
    shape,
    subpixel_factors,
)

BASICSR = "rrdbnet-basicsr"
ESRGAN_NEW = "rrdbnet-esrgan-new"
ESRGAN_OLD = "rrdbnet-esrgan-old"


def _from_basicsr_keys(state: StateDict, hints: Hints, layout: str) -> Converted:
    """Hyper-parameters of a state dict already renamed to BasicSR's keys."""
    num_feat, in_first = shape(state, "conv_first.weight", hints, layout)[:2]
    out_channels = shape(state, "conv_last.weight", hints, layout)[0]
    blocks = indices(state, r"body\.(\d+)\.rdb1\.conv1\.weight")
    num_block = check_run(hints, layout, blocks, 0, "RRDB blocks")
    num_grow_ch = shape(state, "body.0.rdb1.conv1.weight", hints, layout)[0] if num_block else 32
    stages = indices(state, r"conv_up(\d+)\.weight")
    check_run(hints, layout, stages, 1, "upsampling convs")
    outs = [shape(state, f"conv_up{i}.weight", hints, layout)[0] for i in stages]
    if all(out == num_feat for out in outs):
        subpixel = False
        factors = [2] * len(outs)
        if len(outs) == 1 and hints.any_scale == 3:
            factors = [3]
    else:
        subpixel = True
        factors = subpixel_factors(hints, layout, outs, num_feat, "an upsampling conv")
    trunk = 1
    for f in factors:
        trunk *= f
    in_channels, pixel_unshuffle = in_first, True
    if trunk == 4 and in_first == 16 * out_channels:
        in_channels, scale, how = out_channels, 1, f"{in_first}-channel pixel-unshuffled input, x4 trunk"
    elif trunk == 4 and in_first == 4 * out_channels:
        in_channels, scale, how = out_channels, 2, f"{in_first}-channel pixel-unshuffled input, x4 trunk"
    else:
        scale, how = trunk, f"{len(factors)} upsampling stage(s) of x{'/x'.join(map(str, factors))}"
        pixel_unshuffle = scale != 2
    scale = hints.check_scale(layout, scale, how)
    hparams = {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": num_grow_ch,
        "use_subpixel_conv": subpixel,
        "pixel_unshuffle": pixel_unshuffle,
    }
    return "rrdbnet", hparams, dict(state)


def convert_basicsr(state: StateDict, hints: Hints) -> Converted:
    """BasicSR / Real-ESRGAN keys are srkit's: only the hyper-parameters are inferred."""
    return _from_basicsr_keys(state, hints, BASICSR)


def convert_esrgan_new(state: StateDict, hints: Hints) -> Converted:
    """ESRGAN "new arch" -> BasicSR keys."""
    renamed = rename(
        state,
        [
            (r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)", r"body.\1.rdb\2.conv\3.\4"),
            (r"trunk_conv\.(weight|bias)", r"conv_body.\1"),
            (r"upconv(\d+)\.(weight|bias)", r"conv_up\1.\2"),
            (r"HRconv\.(weight|bias)", r"conv_hr.\1"),
        ],
    )
    return _from_basicsr_keys(renamed, hints, ESRGAN_NEW)


def convert_esrgan_old(state: StateDict, hints: Hints) -> Converted:
    """ESRGAN "old arch" (``model.I`` sequential) -> BasicSR keys; the upsampling stages are counted
    from the convs after ``model.1``."""
    layout = ESRGAN_OLD
    trunk = indices(state, r"model\.1\.sub\.(\d+)\.weight")
    if len(trunk) != 1:
        raise hints.error(layout, f"expected one trunk conv 'model.1.sub.<num_block>', found {trunk}")
    tail = [i for i in indices(state, r"model\.(\d+)\.weight") if i >= 2]
    if len(tail) < 2:
        raise hints.error(layout, f"expected the HR and last convs after 'model.1', found model.{tail}")
    *ups, hr, last = tail
    if not ups:
        raise hints.error(layout, "no upsampling stage: x1 old-arch models have no srkit equivalent")
    rules = [
        (r"model\.0\.(weight|bias)", r"conv_first.\1"),
        (r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", r"body.\1.rdb\2.conv\3.\4"),
        (rf"model\.1\.sub\.{trunk[0]}\.(weight|bias)", r"conv_body.\1"),
        *((rf"model\.{i}\.(weight|bias)", rf"conv_up{n}.\1") for n, i in enumerate(ups, start=1)),
        (rf"model\.{hr}\.(weight|bias)", r"conv_hr.\1"),
        (rf"model\.{last}\.(weight|bias)", r"conv_last.\1"),
    ]
    renamed = rename(state, rules)
    return _from_basicsr_keys(renamed, hints, layout)


FORMATS = (
    CheckpointFormat(
        BASICSR,
        "RRDBNet/ESRGAN, BasicSR and Real-ESRGAN layout (conv_first, body.N.rdbM, conv_body, conv_upN)",
        ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight"),
        convert_basicsr,
    ),
    CheckpointFormat(
        ESRGAN_NEW,
        "RRDBNet/ESRGAN, ESRGAN 'new arch' layout (RRDB_trunk, trunk_conv, upconvN, HRconv)",
        ("conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight", "upconv1.weight"),
        convert_esrgan_new,
    ),
    CheckpointFormat(
        ESRGAN_OLD,
        "RRDBNet/ESRGAN, original ESRGAN 'old arch' layout (model.0, model.1.sub.N.RDBM, model.I)",
        ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"),
        convert_esrgan_old,
    ),
)
