"""Objectives over degradation groups: ERM and online Group DRO (Sagawa, Koh, Hashimoto, Liang 2019,
"Distributionally Robust Neural Networks for Group Shifts", Algorithm 1).

Each training sample carries the id of the degradation group that made its LR (``batch['group']``, an
index into the training data's groups). Both objectives compute the pixel losses per sample, reduce them
to per-group sums and counts -- all-reduced over processes, so every process sees the statistics of the
global batch and holds the same group weights -- and log the per-group mean losses (``loss_<group>``).

- ``erm`` minimises the mean loss over all samples of the global batch.
- ``group_dro`` keeps a distribution ``q`` over groups, raises the weight of the groups that do badly
  (:func:`dro_update`) and minimises ``sum_g q_g * L_g`` (logged as ``q_<group>``); ``q`` and the smoothed
  losses belong to the training state, so a resumed run continues exactly.

Gradients under DistributedDataParallel are averaged over processes, so each process backpropagates
``world_size * sum_g w_g * S_g / N_g`` -- its own per-group loss sums ``S_g`` over the *global* counts
``N_g`` -- whose average is exactly the global objective ``sum_g w_g * (global mean loss of g)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.distributed as dist
from pydantic import Field

from srkit.data import list_images
from srkit.errors import ConfigError
from srkit.losses import set_progress
from srkit.train import distributed as D
from srkit.train.objectives.base import Batch, StepContext, register_objective
from srkit.train.objectives.pixel import PixelObjective, PixelObjectiveConfig

# --------------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------------


class ERMObjectiveConfig(PixelObjectiveConfig):
    """``name: erm``: empirical risk minimisation over the degradation groups of the training data -- the
    pixel losses averaged over every sample of the batch, whatever its group (with one group: single-group
    training) -- with the per-group losses logged as ``group_dro`` logs them, for comparison."""

    name: Literal["erm"] = "erm"  # type: ignore[assignment]


class GroupDROObjectiveConfig(PixelObjectiveConfig):
    """``name: group_dro``: online Group DRO (Sagawa, Koh, Hashimoto, Liang 2019, Algorithm 1).

    Per step: the per-group mean losses ``L_g`` of the batch (all-reduced over processes); group weights
    ``q_g <- q_g * exp(eta * (L_g + adjustment / sqrt(n_g)))``, normalised; the optimised loss is
    ``sum_g q_g * L_g``. ``eta``: the step size of q (the paper's default 0.01 suits cross-entropy
    losses near 1; pixel losses are ~0.03, so SR needs a larger one); ``adjustment``: the paper's
    generalisation adjustment ``C`` (``n_g``: the expected training samples of group g per epoch; with
    equal group weights it shifts every group alike and changes nothing); ``smoothing``: when set,
    ``gamma`` of an exponential moving average of the group losses, which then drive the q update (the
    reference code's ``exp_avg_loss``); a group absent from a batch keeps its last average (or 0
    without smoothing, as in the reference code).
    """

    name: Literal["group_dro"] = "group_dro"  # type: ignore[assignment]
    eta: float = Field(0.01, gt=0.0, allow_inf_nan=False)
    adjustment: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    smoothing: float | None = Field(None, gt=0.0, le=1.0)


# --------------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------------


def group_sums(
    per_sample: torch.Tensor, groups: torch.Tensor, num_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group sums of ``per_sample`` (differentiable) and per-group counts (float) for group ids
    ``groups`` in ``[0, num_groups)``."""
    groups = groups.to(device=per_sample.device, dtype=torch.long)
    if groups.shape != per_sample.shape:
        raise ValueError(f"group ids {tuple(groups.shape)} and losses {tuple(per_sample.shape)} differ")
    sums = torch.zeros(num_groups, dtype=per_sample.dtype, device=per_sample.device)
    sums = sums.index_add(0, groups, per_sample)
    counts = torch.bincount(groups, minlength=num_groups).to(per_sample.dtype)
    return sums, counts


def dro_update(
    q: torch.Tensor, group_loss: torch.Tensor, eta: float, adjustment: torch.Tensor | None = None
) -> torch.Tensor:
    """One exponentiated-gradient step of the group weights (Sagawa et al. 2019, Algorithm 1):
    ``q_g <- q_g * exp(eta * (L_g + adj_g))``, then ``q <- q / sum(q)``.

    Computed as a softmax of ``log q + eta * (L + adj)`` in float64, which is the same value without
    overflow for large ``eta * L``. ``adjustment`` is the generalisation adjustment ``C / sqrt(n_g)``."""
    step = group_loss.detach().double()
    if adjustment is not None:
        step = step + adjustment.double()
    logits = torch.log(q.double()) + eta * step
    return torch.softmax(logits, dim=0)


def smooth_losses(
    average: torch.Tensor, seen: torch.Tensor, group_loss: torch.Tensor, present: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference code's ``exp_avg_loss``: for each group present in the batch,
    ``avg <- (1 - gamma) * avg + gamma * L`` (the first value of a group is taken as it is); absent groups
    keep their average. Returns ``(average, seen)``."""
    loss = group_loss.detach().double()
    weight = torch.where(seen, torch.full_like(loss, gamma), torch.ones_like(loss))
    updated = (1 - weight) * average + weight * loss
    return torch.where(present, updated, average), seen | present


def adjustment_term(c: float, counts: Sequence[float]) -> torch.Tensor:
    """The generalisation adjustment ``C / sqrt(n_g)`` (Sagawa et al. 2019, sec. 5) per group."""
    n = torch.tensor([max(float(x), 1e-12) for x in counts], dtype=torch.float64)
    return c / n.sqrt()


# --------------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------------


class _GroupObjective(PixelObjective):
    """What ERM and Group DRO share: the pixel objective's losses, optimiser and schedule (and their
    state), with per-sample losses reduced to group statistics."""

    def __init__(self, cfg: ERMObjectiveConfig | GroupDROObjectiveConfig) -> None:
        super().__init__(cfg)
        self.group_names: list[str] = []

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        data = ctx.config.data.train
        self.group_names = [g.name for g in data.groups] if data.lr is None else ["paired"]

    def _statistics(self, batch: Batch, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward, per-sample losses; returns local per-group sums, global counts, global means."""
        ctx, loss_fn = self.ctx, self.loss
        assert ctx is not None and loss_fn is not None
        set_progress(loss_fn, step, ctx.total_steps)  # losses that switch on late (edge_l1 start)
        with ctx.autocast():
            sr = ctx.model(batch["lr"])
        per_sample, _ = loss_fn(sr, batch["hr"], reduction="sample")
        groups = torch.as_tensor(batch["group"])
        sums, counts = group_sums(per_sample, groups, len(self.group_names))
        global_sums, global_counts = all_reduce_sums(sums.detach(), counts)
        means = global_sums / global_counts.clamp_min(1)
        return sums, global_counts, means

    def _weighted_step(self, sums: torch.Tensor, counts: torch.Tensor, weights: torch.Tensor) -> float:
        """Backward of ``world * sum_g w_g * S_g / N_g`` and an optimiser step; returns the grad norm."""
        ctx, optimizer, scheduler = self.ctx, self.optimizer, self.scheduler
        assert ctx is not None and optimizer is not None and scheduler is not None
        world = ctx.world_size
        objective = world * (weights.to(sums.dtype) * sums / counts.clamp_min(1)).sum()
        ctx.backward(objective)
        norm = ctx.optimizer_step(optimizer)
        scheduler.step()
        return norm

    def _group_values(self, means: torch.Tensor, counts: torch.Tensor) -> dict[str, float]:
        """``loss_<group>`` for every group present in the global batch."""
        return {
            f"loss_{name}": float(means[g])
            for g, name in enumerate(self.group_names)
            if float(counts[g]) > 0 and len(self.group_names) > 1
        }


@register_objective("erm", ERMObjectiveConfig)
class ERMObjective(_GroupObjective):
    """Empirical risk minimisation: the mean loss over every sample of the global batch."""

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        sums, counts, means = self._statistics(batch, step)
        total = float((means * counts).sum() / counts.sum())
        # the sample mean is sum_g (N_g / N) * mean_g: weights N_g / N over the global counts
        norm = self._weighted_step(sums, counts, counts / counts.sum())
        return {"loss": total, **self._group_values(means, counts), "grad_norm": norm}


@register_objective("group_dro", GroupDROObjectiveConfig)
class GroupDROObjective(_GroupObjective):
    """Online Group DRO: ``q`` by exponentiated gradient on the group losses, loss ``sum_g q_g L_g``."""

    def __init__(self, cfg: GroupDROObjectiveConfig) -> None:
        super().__init__(cfg)
        self.cfg: GroupDROObjectiveConfig = cfg
        self.q = torch.empty(0, dtype=torch.float64)
        self.avg_loss = torch.empty(0, dtype=torch.float64)
        self.seen = torch.empty(0, dtype=torch.bool)
        self.adjust: torch.Tensor | None = None

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        groups = len(self.group_names)
        self.q = torch.full((groups,), 1.0 / groups, dtype=torch.float64)
        self.avg_loss = torch.zeros(groups, dtype=torch.float64)
        self.seen = torch.zeros(groups, dtype=torch.bool)
        if self.cfg.adjustment > 0:
            data = ctx.config.data.train
            weights = [g.weight for g in data.groups]
            total = sum(weights)
            length = data.length or _count_images(data.hr)
            self.adjust = adjustment_term(self.cfg.adjustment, [length * w / total for w in weights])

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        sums, counts, means = self._statistics(batch, step)
        present = counts > 0
        losses = means.detach().double()
        if self.cfg.smoothing is not None:
            self.avg_loss, self.seen = smooth_losses(
                self.avg_loss, self.seen, losses, present, self.cfg.smoothing
            )
            losses = self.avg_loss
        self.q = dro_update(self.q, losses, self.cfg.eta, self.adjust)
        robust = float((self.q * means.double()).sum())
        norm = self._weighted_step(sums, counts, self.q.to(sums.device))
        values = {"loss": robust, **self._group_values(means, counts)}
        values.update({f"q_{name}": float(self.q[g]) for g, name in enumerate(self.group_names)})
        values["grad_norm"] = norm
        return values

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "q": self.q.clone(),
            "avg_loss": self.avg_loss.clone(),
            "seen": self.seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        q = torch.as_tensor(state["q"], dtype=torch.float64)
        if q.shape != self.q.shape:
            raise ConfigError(
                f"data.train.groups: the saved state has {q.numel()} group weights, the config "
                f"{self.q.numel()} groups; resume with the same groups"
            )
        self.q = q.clone()
        self.avg_loss = torch.as_tensor(state["avg_loss"], dtype=torch.float64).clone()
        self.seen = torch.as_tensor(state["seen"], dtype=torch.bool).clone()


def all_reduce_sums(sums: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group loss sums and counts summed over every process (themselves in a single process), in
    one all-reduce, so every process derives the same group means and the same ``q``."""
    if not D.is_distributed():
        return sums, counts
    packed = torch.cat([sums.double(), counts.double()])
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    n = sums.numel()
    return packed[:n].to(sums.dtype), packed[n:].to(counts.dtype)


def _count_images(folders: Sequence[str]) -> int:
    return sum(len(list_images(folder)) for folder in folders)
