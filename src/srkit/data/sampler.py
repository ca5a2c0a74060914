"""Deterministic, resumable sampling for SR training.

Everything random here is a pure function of ``(seed, epoch)`` (and of the index for per-sample draws),
never of global RNG state, worker count or worker assignment:

- :func:`epoch_permutation` -- the order in which an epoch visits the dataset indices;
- :func:`make_group_assignment` -- the degradation group of every index in an epoch (i.i.d. draws with
  the given weights), so a batch sampler can know -- and later re-balance -- the groups of a batch before
  any image is decoded;
- :func:`balanced_groups` -- the group ids of one batch when batches are group-balanced: every group
  ``batch // groups`` times, the remainder drawn by weight, in a shuffled order;
- :class:`TrainBatchSampler` -- an endless stream of batches of :class:`SampleKey` ``(index, epoch)``;
  epoch ``e`` is ``epoch_permutation(e)`` split by rank and cut into batches (the incomplete last batch
  is dropped). Batch ``n`` of the stream is global step ``start_step + n``, so resuming at a step only
  needs that step: the sampler starts inside the epoch without touching the skipped samples. With
  ``group_weights`` it balances groups: each key carries the group :func:`balanced_groups` gives it.

Because the epoch travels inside every key, DataLoader workers never need to be told about a new epoch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from srkit.errors import ConfigError

# First entropy word of each random stream, so the streams never coincide.
STREAM_ITEM = 0x5EED0001
STREAM_PERMUTATION = 0x5EED0002
STREAM_GROUP = 0x5EED0003
STREAM_BALANCE = 0x5EED0004
STREAM_DEGRADE = 0x5EED0005


class SampleKey(NamedTuple):
    """What a training dataset is indexed with: the sample index, its epoch and optionally a forced
    group id (for a group-balancing batch sampler; ``None`` uses :func:`make_group_assignment`)."""

    # mypy flags a NamedTuple field that shadows a tuple method; the field is public API (key.index).
    index: int  # type: ignore[assignment]
    epoch: int
    group: int | None = None


def _check_seed(seed: int, key: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{key}: must be a non-negative integer, got {seed!r}")
    return int(seed)


def stream_rng(stream: int, *words: int) -> np.random.Generator:
    """A NumPy generator seeded from ``(stream, *words)`` through ``SeedSequence`` (all words >= 0)."""
    return np.random.default_rng([stream, *(int(w) for w in words)])


def epoch_permutation(length: int, seed: int, epoch: int) -> np.ndarray:
    """The order (an int64 permutation of ``range(length)``) in which epoch ``epoch`` visits the data."""
    return stream_rng(STREAM_PERMUTATION, _check_seed(seed), _check_seed(epoch, "epoch")).permutation(length)


def make_group_assignment(weights: Sequence[float], length: int, seed: int, epoch: int) -> np.ndarray:
    """The group id (int64 array of ``length``) of every sample index in ``epoch``.

    Each entry is an independent draw from the categorical distribution ``weights / sum(weights)``,
    using a generator seeded from ``(seed, epoch)`` only, so the group of ``(epoch, index)`` is the
    same in every process and on resume.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(
            f"groups: weights must be non-negative, finite and not all zero, got {list(weights)}"
        )
    if w.size == 1:
        return np.zeros(length, dtype=np.int64)
    rng = stream_rng(STREAM_GROUP, _check_seed(seed), _check_seed(epoch, "epoch"))
    return rng.choice(w.size, size=length, p=w / w.sum()).astype(np.int64)


def balanced_groups(
    weights: Sequence[float], batch_size: int, seed: int, epoch: int, batch: int, rank: int = 0
) -> np.ndarray:
    """Group ids (int64, ``batch_size``) of batch ``batch`` of ``epoch`` on ``rank`` for group-balanced
    batches: every group exactly ``batch_size // len(weights)`` times, the ``batch_size % len(weights)``
    others drawn from the categorical distribution ``weights`` without replacement of groups where
    possible, then shuffled. A pure function of its arguments (resumable, the same in every worker)."""
    w = np.asarray(weights, dtype=np.float64)
    make_group_assignment(weights, 1, 0, 0)  # validates the weights
    groups = w.size
    if batch_size < groups:
        raise ConfigError(f"balance_groups: {groups} groups do not fit a batch of {batch_size}")
    rng = stream_rng(STREAM_BALANCE, _check_seed(seed), _check_seed(epoch, "epoch"), batch, rank)
    per_group, rest = divmod(batch_size, groups)
    ids = np.repeat(np.arange(groups, dtype=np.int64), per_group)
    if rest:
        p = w / w.sum()
        extra = rng.choice(groups, size=rest, replace=int(np.count_nonzero(p)) < rest, p=p)
        ids = np.concatenate([ids, extra.astype(np.int64)])
    return rng.permutation(ids)


class TrainBatchSampler(Sampler[list[SampleKey]]):
    """Endless, resumable, rank-split batches of :class:`SampleKey` (see the module docstring).

    Per epoch, rank ``r`` of ``world_size`` takes ``perm[r::world_size]`` of the epoch permutation, cut to
    ``length // world_size`` samples so every rank has the same number of steps; ranks never overlap and,
    when ``world_size * batch_size`` divides ``length``, they cover the whole dataset every epoch.
    ``steps_per_epoch = (length // world_size) // batch_size``. With ``group_weights`` every batch is
    group-balanced (:func:`balanced_groups`).
    """

    def __init__(
        self,
        length: int,
        batch_size: int,
        seed: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        group_weights: Sequence[float] | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size: must be a positive integer, got {batch_size!r}")
        if not isinstance(world_size, int) or world_size < 1:
            raise ConfigError(f"world_size: must be a positive integer, got {world_size!r}")
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ConfigError(f"rank: must be in [0, {world_size}), got {rank!r}")
        self.length = int(length)
        self.batch_size = batch_size
        self.seed = _check_seed(seed)
        self.rank = rank
        self.world_size = world_size
        self.start_step = _check_seed(start_step, "start_step")
        self.group_weights = None if group_weights is None else [float(w) for w in group_weights]
        if self.group_weights is not None:
            balanced_groups(self.group_weights, batch_size, 0, 0, 0)  # validates
        self.per_rank = self.length // world_size
        self.steps_per_epoch = self.per_rank // batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"batch_size: {batch_size} x {world_size} rank(s) is more than the {self.length} samples "
                "of an epoch; lower batch_size or set a larger dataset length"
            )

    def epoch_of_step(self, step: int) -> int:
        """The epoch that global step ``step`` belongs to."""
        return step // self.steps_per_epoch

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's sample indices of ``epoch`` in visiting order (``steps_per_epoch * batch_size``)."""
        perm = epoch_permutation(self.length, self.seed, epoch)
        mine = perm[self.rank :: self.world_size][: self.per_rank]
        return mine[: self.steps_per_epoch * self.batch_size]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        step = self.start_step
        while True:
            epoch, position = divmod(step, self.steps_per_epoch)
            indices = self.epoch_indices(epoch)
            bs = self.batch_size
            for b in range(position, self.steps_per_epoch):
                chunk = indices[b * bs : (b + 1) * bs]
                if self.group_weights is None:
                    yield [SampleKey(int(i), epoch) for i in chunk]
                else:
                    groups = balanced_groups(self.group_weights, bs, self.seed, epoch, b, self.rank)
                    yield [SampleKey(int(i), epoch, int(g)) for i, g in zip(chunk, groups, strict=True)]
            step = (epoch + 1) * self.steps_per_epoch


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed Python's and NumPy's global RNGs from the worker's torch seed.

    The training samples do not use global RNG state (their randomness comes from ``(seed, epoch,
    index)``); this only makes any third-party global-RNG use in workers reproducible.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def build_train_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    *,
    distributed: bool = False,
    rank: int = 0,
    world_size: int = 1,
    start_step: int = 0,
    pin_memory: bool = False,
    balance_groups: bool = False,
) -> DataLoader:
    """An endless DataLoader over ``dataset`` (indexed by :class:`SampleKey`) driven by a
    :class:`TrainBatchSampler`.

    Batch ``n`` of the iteration is global step ``start_step + n``: building the loader with
    ``start_step=k`` yields exactly the batches ``k, k+1, ...`` of an uninterrupted run, for any
    ``num_workers``, without decoding the skipped samples. With ``distributed=True`` the epoch is split by
    ``rank``/``world_size`` (taken from ``torch.distributed`` when it is initialised and ``world_size`` is
    left at 1). With ``balance_groups`` every batch is group-balanced by the dataset's ``group_weights``.
    ``len()`` of the loader is undefined (endless); use ``loader.batch_sampler.steps_per_epoch``.
    If the dataset has a ``preload()`` method (the decoded-image cache) and workers are used, it is called
    first so the workers share the decoded images instead of each decoding its own copy.
    """
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers: must be a non-negative integer, got {num_workers!r}")
    if distributed:
        if world_size == 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    elif rank != 0 or world_size != 1:
        raise ConfigError("rank/world_size: only used with distributed=True")
    sampler = TrainBatchSampler(
        len(dataset),  # type: ignore[arg-type]
        batch_size,
        seed,
        rank=rank,
        world_size=world_size,
        start_step=start_step,
        group_weights=getattr(dataset, "group_weights", None) if balance_groups else None,
    )
    if balance_groups and sampler.group_weights is None:
        raise ConfigError("balance_groups: the dataset has no degradation groups")
    preload = getattr(dataset, "preload", None)
    if num_workers > 0 and callable(preload):
        preload()
    generator = torch.Generator()
    generator.manual_seed(sampler.seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        generator=generator,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
