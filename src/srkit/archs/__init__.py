"""Super-resolution networks and their registry.

Networks: SRResNet (Ledig et al. 2017), MSRResNet (BasicSR), EDSR (Lim et al. 2017), RRDBNet/ESRGAN
(Wang et al. 2018), FSRCNN (Dong et al. 2016), VDSR (Kim et al. 2016). Each is a plain
``nn.Module`` with ``scale``, ``in_channels``, ``out_channels``, ``window_multiple`` (input sizes
must be multiples of it), ``input_space`` (``'rgb'``/``'y'``), ``expects_upsampled_input``,
``arch_name`` and ``hparams``. Build them by name with :func:`build_model`.
"""

from srkit.archs.edsr import EDSR
from srkit.archs.fsrcnn import FSRCNN
from srkit.archs.registry import (
    ARCHS,
    PRESETS,
    build_from_spec,
    build_model,
    model_hparams,
    model_names,
    model_spec,
    resolve,
    valid_hparams,
)
from srkit.archs.rrdbnet import RRDBNet
from srkit.archs.srresnet import MSRResNet, SRResNet
from srkit.archs.vdsr import VDSR

__all__ = [
    "ARCHS",
    "EDSR",
    "FSRCNN",
    "PRESETS",
    "VDSR",
    "MSRResNet",
    "RRDBNet",
    "SRResNet",
    "build_from_spec",
    "build_model",
    "model_hparams",
    "model_names",
    "model_spec",
    "resolve",
    "valid_hparams",
]
