"""The training data as the loop consumes it: the check that every configured data folder is there
(before anything is built), the resumable loader of ``data.train`` and each batch moved to the device in
the network's space."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from srkit.archs import NetInfo, to_net_space
from srkit.data import find_benchmark, list_images, resolve_dataset
from srkit.data.sampler import build_train_loader
from srkit.data.train import GroupWeight, SRTrainDataset, holdout_files
from srkit.errors import ConfigError, DatasetError
from srkit.train.config import TrainConfig
from srkit.train.distributed import DistInfo


def _keys(key: str, values: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, value)`` per entry of a list-valued config key; ``key.N`` when it has several entries."""
    return [(key if len(values) == 1 else f"{key}.{i}", v) for i, v in enumerate(values)]


def _is_named_dataset(name: str) -> bool:
    """Whether ``name`` is no path but ``'sample'`` or a benchmark name (resolved, and downloaded when
    needed, when validation loads it)."""
    if Path(name).expanduser().exists():
        return False
    return name.strip().lower() == "sample" or find_benchmark(name) is not None


def check_data_folders(config: TrainConfig) -> None:
    """Check that every folder of ``data.train.hr``, ``data.train.lr`` and every path of
    ``data.val.datasets`` exists and holds images (benchmark names are left to validation).

    Raises:
        ConfigError: one line naming the config key, the path and what is wrong with it.
    """
    train = config.data.train
    folders = _keys("data.train.hr", train.hr) + _keys("data.train.lr", train.lr or [])
    for key, folder in folders:
        try:
            list_images(folder)
        except DatasetError as err:
            raise ConfigError(f"{key}: {err}") from None
    for key, name in _keys("data.val.datasets", config.data.val.datasets):
        if _is_named_dataset(name):
            continue
        try:
            resolve_dataset(name, download=False, progress=False)
        except DatasetError as err:
            raise ConfigError(f"{key}: {err}") from None


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
        exclude=holdout_files(cfg.hr, config.data.val.holdout) if cfg.lr is None else (),
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
