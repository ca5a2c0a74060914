"""The training data as the loop consumes it: the resumable loader of ``data.train`` and each batch
moved to the device in the network's space."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from srkit.archs import NetInfo, to_net_space
from srkit.data.sampler import build_train_loader
from srkit.data.train import GroupWeight, SRTrainDataset
from srkit.train.config import TrainConfig
from srkit.train.distributed import DistInfo


def train_loader(
    config: TrainConfig, batch_size: int, dist: DistInfo, device: torch.device, start_step: int
) -> DataLoader:
    """This process's loader of ``data.train`` patches (``batch_size`` each) from step ``start_step`` on:
    batch ``k`` depends only on ``(seed, k)``, so a resumed run sees the same data."""
    cfg = config.data.train
    dataset = SRTrainDataset(
        cfg.hr,
        scale=config.scale,
        patch_size=cfg.patch_size,
        lr_dirs=cfg.lr,
        groups=[GroupWeight(g.name, g.weight) for g in cfg.groups],
        augment=cfg.augment.to_augment_config(),
        cache=cfg.cache,
        length=cfg.length,
        seed=config.seed,
    )
    return build_train_loader(
        dataset,
        batch_size,
        cfg.num_workers,
        config.seed,
        distributed=dist.enabled,
        rank=dist.rank,
        world_size=dist.world_size,
        start_step=start_step,
        pin_memory=device.type == "cuda",
        balance_groups=cfg.balance_groups,
    )


def prepare_batch(
    batch: dict[str, Any], info: NetInfo, config: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """``batch`` with ``'lr'`` and ``'hr'`` on ``device``, as the network ``info`` sees them
    (channels-last when ``train.channels_last``)."""
    out = dict(batch)
    lr, hr = (batch[key].to(device, non_blocking=True) for key in ("lr", "hr"))
    net_space = dict(zip(("lr", "hr"), to_net_space(info, lr, hr, config.scale), strict=True))
    for key in ("lr", "hr"):
        t = net_space[key]
        if config.train.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        out[key] = t
    return out
