"""Process-group set-up for ``torchrun`` (DistributedDataParallel), and helpers that are no-ops in a
single process.

``torchrun --nproc_per_node=N -m srkit train ...`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and joins the group with the
``nccl`` backend on CUDA or ``gloo`` on CPU. Without those variables (or with ``WORLD_SIZE=1``) training
runs in one process and nothing here communicates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from srkit.errors import ConfigError

# Rank 0 validates and writes checkpoints while the others wait in a barrier: allow for long validations.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world_size`` (``local_rank`` on its node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process logs, validates and writes checkpoints (rank 0)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer in the environment, got {raw!r}") from None


def dist_info_from_env() -> DistInfo:
    """``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` as set by ``torchrun`` (defaults: one process)."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"RANK/WORLD_SIZE: rank {rank} is not in [0, {world_size})")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group of a ``torchrun`` job (no-op for a single process or when already joined)."""
    if not info.enabled or dist.is_initialized():
        return
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE: distributed training needs a PyTorch build with torch.distributed")
    kwargs: dict[str, Any] = {"backend": backend_for(device), "timeout": COLLECTIVE_TIMEOUT}
    if device.type == "cuda":
        kwargs["device_id"] = device
    dist.init_process_group(**kwargs)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    """Whether a process group with more than one member is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` in rank order (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (``obj`` itself in a single process)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_true(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on every process (one tiny all-reduce when distributed)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def all_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean of each value over processes (``values`` itself in a single process); every process must
    pass the same keys in the same order."""
    if not is_distributed() or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= dist.get_world_size()
    return dict(zip(values, tensor.tolist(), strict=True))
