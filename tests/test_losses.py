"""Pixel losses: values, dtype handling, weighted sums."""

from __future__ import annotations

import math

import pytest
import torch

from srkit.losses import (
    CharbonnierLoss,
    L1Loss,
    MSELoss,
    WeightedSum,
    build_loss,
    charbonnier_loss,
    l1_loss,
    mse_loss,
)

PRED = torch.tensor([[0.0, 0.5], [1.0, 0.25]]).view(1, 1, 2, 2)
TARGET = torch.tensor([[0.5, 0.5], [0.0, 0.75]]).view(1, 1, 2, 2)
# differences: -0.5, 0, 1, -0.5


def test_l1_mse_values() -> None:
    assert l1_loss(PRED, TARGET).item() == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert mse_loss(PRED, TARGET).item() == pytest.approx((0.25 + 0 + 1 + 0.25) / 4)
    assert L1Loss()(PRED, TARGET).item() == pytest.approx(0.5)
    assert MSELoss()(PRED, TARGET).item() == pytest.approx(0.375)


def test_charbonnier_value_and_limit() -> None:
    eps = 1e-3
    expected = sum(math.sqrt(d * d + eps * eps) for d in (-0.5, 0.0, 1.0, -0.5)) / 4
    assert charbonnier_loss(PRED, TARGET, eps).item() == pytest.approx(expected, rel=1e-6)
    assert CharbonnierLoss(eps)(PRED, TARGET).item() == pytest.approx(expected, rel=1e-6)
    # identical inputs: exactly eps; tiny eps: close to L1
    assert charbonnier_loss(PRED, PRED, 0.01).item() == pytest.approx(0.01, rel=1e-6)
    assert charbonnier_loss(PRED, TARGET, 1e-6).item() == pytest.approx(0.5, abs=1e-5)
    # differentiable at zero difference (L1 has a kink there)
    x = PRED.clone().requires_grad_(True)
    charbonnier_loss(x, PRED.clone()).backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    with pytest.raises(ValueError, match="eps"):
        CharbonnierLoss(0.0)


def test_losses_compute_in_float32_for_low_precision_inputs() -> None:
    pred = PRED.to(torch.bfloat16)
    loss = l1_loss(pred, TARGET)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ"):
        l1_loss(PRED, TARGET[..., :1])


def test_weighted_sum_total_and_parts() -> None:
    loss = build_loss([("l1", 2.0, {}), ("mse", 0.5, {}), ("l1", 1.0, {})])
    assert isinstance(loss, WeightedSum)
    assert loss.names == ["l1", "mse", "l1_2"]
    total, parts = loss(PRED, TARGET)
    assert total.item() == pytest.approx(2.0 * 0.5 + 0.5 * 0.375 + 1.0 * 0.5)
    assert {k: round(v.item(), 6) for k, v in parts.items()} == {"l1": 0.5, "mse": 0.375, "l1_2": 0.5}
    assert not any(v.requires_grad for v in parts.values())


def test_weighted_sum_gradient_is_weighted() -> None:
    x = PRED.clone().requires_grad_(True)
    total, _ = build_loss([("mse", 3.0, {})])(x, TARGET)
    total.backward()
    # d/dx of 3 * mean((x - t)^2) = 3 * 2 (x - t) / n
    assert torch.allclose(x.grad, 3.0 * 2.0 * (PRED - TARGET) / 4)


def test_build_loss_rejects_unknown_and_empty() -> None:
    with pytest.raises(ValueError, match="unknown type 'ssim'"):
        build_loss([("ssim", 1.0, {})])
    with pytest.raises(ValueError, match="at least one"):
        build_loss([])
    charbonnier = build_loss([("charbonnier", 1.0, {"eps": 0.1})])
    assert charbonnier(PRED, PRED)[0].item() == pytest.approx(0.1, rel=1e-6)
