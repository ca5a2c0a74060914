"""``train`` (the loop: steps, precision, EMA, checkpoints) and ``logging`` (where metrics go)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from srkit.train.sections import Section


class LoopConfig(Section):
    """The training loop.

    ``steps``: total optimiser steps; ``grad_clip``: max global L2 norm of the gradients (``null``: no
    clipping); ``ema_decay``: EMA of parameters and buffers (``null``: off; validation and exported
    weights use the EMA when on), with ``ema_warmup`` the decay is ``min(ema_decay, (1+n)/(10+n))``
    after ``n`` updates; ``precision``: ``fp32``, ``bf16`` (autocast, CPU and CUDA), ``fp16``
    (autocast + GradScaler, CUDA only) or ``auto`` (bf16 on a CPU with native bf16 and on a GPU that has
    it, fp16 on other GPUs, else fp32: :func:`srkit.devices.resolve_precision`; the log's first line
    says which); ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda``;
    ``threads``: ``torch.set_num_threads`` (``null``: PyTorch's default); ``deterministic``:
    ``torch.use_deterministic_algorithms``; ``log_every``: steps between log records;
    ``checkpoint_every``: steps between training-state saves (``state.pt`` + ``latest.safetensors``);
    ``snapshot_every``: steps between kept ``checkpoints/step_NNNNNNN.safetensors`` (``null``: none);
    ``best_checkpoint_warmup``: ``best.safetensors`` is only considered from this step on;
    ``best_metric``: what ``best.safetensors`` maximises: ``mean_psnr`` over the validation entries
    (sets x groups) or ``worst_psnr``, the lowest of them (early stopping on the worst group, as Group DRO
    recommends, Sagawa et al. 2019).
    """

    steps: int = Field(gt=0)
    grad_clip: float | None = Field(None, gt=0.0)
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0)
    ema_warmup: bool = True
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    channels_last: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, gt=0)
    deterministic: bool = False
    log_every: int = Field(100, gt=0)
    checkpoint_every: int = Field(5000, gt=0)
    snapshot_every: int | None = Field(None, gt=0)
    best_checkpoint_warmup: int = Field(0, ge=0)
    best_metric: Literal["mean_psnr", "worst_psnr"] = "mean_psnr"


class LoggingConfig(Section):
    """Where metrics go besides ``log.jsonl``/``train.csv``/``val.csv`` (always written).

    ``tensorboard``: ``auto`` (when the ``tensorboard`` package is installed), ``true`` (error when it is
    not), ``false``; ``wandb``: Weights & Biases (``true`` needs the ``wandb`` package);
    ``progress``: tqdm bar ``auto`` (on a TTY), ``true``, ``false``; ``images``: LR/SR/HR of the first
    image of each validation set to TensorBoard/W&B.
    """

    tensorboard: bool | Literal["auto"] = "auto"
    wandb: bool = False
    wandb_project: str = "srkit"
    wandb_entity: str | None = None
    progress: bool | Literal["auto"] = "auto"
    images: bool = True
