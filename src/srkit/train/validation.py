"""Validation during training, measured as ``srkit eval`` measures: the validation sets (``data.val``),
their bicubic baseline, and a network's mean PSNR/SSIM per set (SR quantised to 8 bits, ``crop_border``
pixels shaved, on Y when ``y_channel``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srkit.archs import make_runner
from srkit.data import resolve_dataset
from srkit.data.train import ValDataset, holdout_files
from srkit.degrade import resize
from srkit.io.images import to_uint8
from srkit.metrics import psnr_torch, ssim_torch
from srkit.train.config import TrainConfig
from srkit.train.logging import mean_psnr, worst_psnr

#: Set name -> its items (``'lr'``, ``'hr'`` tensors ``(3, H, W)``, ...).
ValSets = dict[str, list[dict[str, Any]]]
#: Set name -> metric name -> value.
Metrics = dict[str, dict[str, float]]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to ``[0, 1]`` and round to 8-bit levels (as saved images are), in float32."""
    return to_uint8(x.float()).float() / 255


def upscale(model: nn.Module, lr: torch.Tensor, scale: int, channels_last: bool = False) -> torch.Tensor:
    """The network's SR of ``lr`` by ``scale`` through its runner (the one LR->SR path of eval and
    ``srkit upscale``), in float32 on ``lr``'s device."""
    runner = make_runner(model, device=lr.device, precision="fp32", channels_last=channels_last)
    return runner(lr, scale)


def measure(sr: torch.Tensor, hr: torch.Tensor, crop_border: int, y_channel: bool) -> dict[str, float]:
    """PSNR/SSIM of one quantised SR image against its HR (both ``(1, 3, H, W)`` in ``[0, 1]``)."""
    sr, hr = quantize(sr).double(), hr.double()
    psnr = psnr_torch(sr, hr, crop_border=crop_border, y_channel=y_channel)
    ssim = ssim_torch(sr, hr, crop_border=crop_border, y_channel=y_channel)
    return {"psnr": float(psnr[0]), "ssim": float(ssim[0])}


def average_metrics(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images."""
    return {key: sum(m[key] for m in per_image) / len(per_image) for key in per_image[0]}


#: ``train.best_metric`` -> the monitored value for ``best.safetensors`` (higher is better).
BEST_METRICS = {"mean_psnr": mean_psnr, "worst_psnr": worst_psnr}


def load_val_sets(config: TrainConfig) -> ValSets:
    """``data.val``'s images by set name (decoded once, on rank 0)."""
    cfg = config.data.val
    sets: dict[str, list[dict[str, Any]]] = {}
    names: set[str] = set()
    named = [(resolve_dataset(name, progress=False), None) for name in cfg.datasets]
    carved = holdout_files(config.data.train.hr, cfg.holdout)
    for hr, label in named + ([(None, "holdout")] if carved else []):
        files = carved if hr is None else list(hr.files)
        base = label or hr.name.lower()  # type: ignore[union-attr]
        if base in names:
            base = f"{base}_{len(names)}"
        names.add(base)
        for group in cfg.groups:
            key = base if len(cfg.groups) == 1 else f"{base}/{group}"
            data = ValDataset(files, config.scale, group=group, center_crop=cfg.center_crop)
            sets[key] = [data[i] for i in range(len(data))]
    return sets


def val_crop_border(config: TrainConfig) -> int:
    """``data.val.crop_border``, default the scale."""
    crop = config.data.val.crop_border
    return config.scale if crop is None else crop


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB ``imresize(LR, scale, 'bicubic')`` of the uint8-quantised ``lr``, back in ``[0, 1]`` (the
    published bicubic rows, as :class:`srkit.infer.InterpolationUpscaler` computes them)."""
    return resize(to_uint8(lr), float(scale), kernel="bicubic").to(lr.dtype) / 255


def bicubic_baseline(config: TrainConfig, sets: ValSets) -> Metrics:
    """Bicubic PSNR/SSIM of every validation set (the level a network must beat)."""
    y, crop = config.data.val.y_channel, val_crop_border(config)
    return {
        name: average_metrics(
            [
                measure(
                    bicubic(item["lr"][None].cpu(), config.scale),
                    item["hr"][None],
                    crop,
                    y,
                )
                for item in items
            ]
        )
        for name, items in sets.items()
    }


def validate(
    model: nn.Module, sets: ValSets, config: TrainConfig, device: torch.device
) -> tuple[Metrics, dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """Mean PSNR/SSIM per set of ``model`` (run on ``device``), and the first image's (LR, SR, HR) of
    each set."""
    was_training = model.training
    model.eval()
    y, crop = config.data.val.y_channel, val_crop_border(config)
    results: dict[str, dict[str, float]] = {}
    images: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    try:
        for name, items in sets.items():
            per_image = []
            for i, item in enumerate(items):
                lr = item["lr"][None].to(device)
                sr = upscale(model, lr, config.scale, config.train.channels_last).cpu()
                per_image.append(measure(sr, item["hr"][None], crop, y))
                if i == 0:
                    images[name] = (item["lr"], quantize(sr[0]), item["hr"])
            results[name] = average_metrics(per_image)
    finally:
        model.train(was_training)
    return results, images
