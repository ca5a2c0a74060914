"""Super-resolution networks: the contract, the registry, the runner and one folder per family.

- :mod:`srkit.archs.contract`: :class:`NetInfo` (what a network takes and gives) and :class:`SRNet`
  (the base class that captures hyper-parameters);
- :mod:`srkit.archs.registry`: :func:`register_arch`, :func:`build_model`, presets, specs;
- :mod:`srkit.archs.runner`: :class:`Runner`, the one LR -> SR path;
- :mod:`srkit.archs.loading`: :func:`load_network` (by name or file), :func:`save_weights`, other
  projects' checkpoint layouts;
- families, each ``srkit/archs/<family>/`` with ``net.py``, ``layouts.py`` and its registration:
  SRResNet (Ledig et al. 2017) and MSRResNet (BasicSR), EDSR (Lim et al. 2017), RRDBNet/ESRGAN (Wang et
  al. 2018), FSRCNN (Dong et al. 2016), VDSR (Kim et al. 2016), and the iterative SR3 (Saharia et al.
  2021, with its own runner).

Adding a family is one folder plus one line in :data:`FAMILIES` below (the import that registers it);
checkpoint layouts are tried in that order (their signature keys are disjoint, so the order decides nothing).
"""

from srkit.archs import (
    bsrn,
    carn,
    davit_sr,
    edsr,
    fsrcnn,
    hat,
    imdn,
    lapsrn,
    pan,
    rfdn,
    rlfn,
    rrdbnet,
    span,
    sr3,
    srresnet,
    srvgg,
    swinir,
    vdsr,
)
from srkit.archs.bsrn import BSRN
from srkit.archs.carn import CARNM
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.archs.edsr import EDSR
from srkit.archs.fsrcnn import FSRCNN
from srkit.archs.imdn import IMDN, IMDNKAIR
from srkit.archs.lapsrn import LapSRN
from srkit.archs.loading import (
    Conversion,
    build_and_load,
    check_state_dict,
    convert_state_dict,
    format_descriptions,
    format_names,
    load_any_model,
    load_network,
    read_any_checkpoint,
    save_weights,
    unwrap_model,
)
from srkit.archs.pan import PAN
from srkit.archs.registry import (
    ARCH_ENTRIES,
    ARCHS,
    PRESETS,
    ArchEntry,
    build_from_spec,
    build_model,
    entry,
    model_hparams,
    model_names,
    model_spec,
    net_info,
    register_arch,
    resolve,
    takes_scale,
    unregister_arch,
    valid_hparams,
)
from srkit.archs.rfdn import RFDN
from srkit.archs.rlfn import RLFN
from srkit.archs.rrdbnet import RRDBNet
from srkit.archs.runner import (
    InterpolationUpscaler,
    Runner,
    Upscaler,
    make_runner,
    pad_to_multiple,
    to_net_space,
)
from srkit.archs.span import SPAN
from srkit.archs.srresnet import MSRResNet, SRResNet
from srkit.archs.srvgg import SRVGGNetCompact
from srkit.archs.vdsr import VDSR

#: The family packages, imported (and so registered) in this order.
FAMILIES = (
    edsr,
    fsrcnn,
    rrdbnet,
    srresnet,
    vdsr,
    davit_sr,
    swinir,
    hat,
    sr3,
    rlfn,
    rfdn,
    bsrn,
    imdn,
    srvgg,
    span,
    pan,
    carn,
    lapsrn,
)

__all__ = [
    "ARCHS",
    "ARCH_ENTRIES",
    "BSRN",
    "CARNM",
    "EDSR",
    "FAMILIES",
    "FSRCNN",
    "IMDN",
    "IMDNKAIR",
    "PAN",
    "PRESETS",
    "RFDN",
    "RLFN",
    "SPAN",
    "VDSR",
    "ArchEntry",
    "Conversion",
    "InterpolationUpscaler",
    "LapSRN",
    "MSRResNet",
    "NetInfo",
    "RRDBNet",
    "Runner",
    "SRNet",
    "SRResNet",
    "SRVGGNetCompact",
    "Upscaler",
    "build_and_load",
    "build_from_spec",
    "build_model",
    "check_state_dict",
    "color_space",
    "convert_state_dict",
    "entry",
    "format_descriptions",
    "format_names",
    "load_any_model",
    "load_network",
    "make_runner",
    "model_hparams",
    "model_names",
    "model_spec",
    "net_info",
    "pad_to_multiple",
    "read_any_checkpoint",
    "register_arch",
    "resolve",
    "save_weights",
    "takes_scale",
    "to_net_space",
    "unregister_arch",
    "unwrap_model",
    "valid_hparams",
]
