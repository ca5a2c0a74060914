"""SRResNet (Ledig et al. 2017) with its ablation switches, and BasicSR's MSRResNet with its BasicSR and
mmsr checkpoint layouts."""

from srkit.archs.registry import register_arch
from srkit.archs.srresnet import layouts
from srkit.archs.srresnet.net import MSRRESNET_SCALES, SRRESNET_SCALES, MSRResNet, SRResNet

SRRESNET = register_arch(
    "srresnet",
    SRResNet,
    scales=SRRESNET_SCALES,
    summary="SRResNet (Ledig et al. 2017) with switches for each design choice",
)
MSRRESNET = register_arch(
    "msrresnet",
    MSRResNet,
    layouts=layouts.FORMATS,
    scales=MSRRESNET_SCALES,
    summary="MSRResNet (BasicSR): SRResNet without batch norm, bilinear image skip",
)

__all__ = ["MSRRESNET", "SRRESNET", "MSRResNet", "SRResNet"]
