"""The edge-weighted L1 loss (``edge_l1``): the Sobel edge map and the loss against a hand computation,
the padding, the ``mix`` and ``start`` options, the progress hook and its registration as a pixel loss."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from srkit.losses import (
    LOSS_TYPES,
    EdgeL1Loss,
    ProgressAware,
    build_loss,
    edge_l1_loss,
    l1_loss,
    set_progress,
    sobel_magnitude,
)
from srkit.train.objectives.pixel import LossConfig

# HR is 1 at the bottom-right pixel only (a corner). With replicate padding the padded image is
# P(r, c) = u(r) u(c), u(t) = 1 for t >= 2 (rows and columns -1..3), so the Sobel responses separate:
# gx(i, j) = A(i) D(j) and gy(i, j) = D(i) A(j), with the smoothing part A(i) = u(i-1) + 2 u(i) + u(i+1)
# = (0, 1, 3) and the difference part D(j) = u(j-1) - u(j+1) = (0, -1, -1) for i, j = 0, 1, 2. Hence
#   E = sqrt(gx^2 + gy^2) = [[0, 0, 0], [0, sqrt(2), sqrt(10)], [0, sqrt(10), sqrt(18)]],
#   sum(E) = 4 sqrt(2) + 2 sqrt(10).
HR = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).view(1, 1, 3, 3)
E = torch.tensor(
    [[0.0, 0.0, 0.0], [0.0, math.sqrt(2), math.sqrt(10)], [0.0, math.sqrt(10), math.sqrt(18)]]
).view(1, 1, 3, 3)
# The error is 0.9 where E is 0 (it must not count), 0.4, 0.1, -0.1 and 0.2 on the edge pixels:
#   loss = (0.4 sqrt(2) + 0.1 sqrt(10) + 0.1 sqrt(10) + 0.2 sqrt(18)) / (4 sqrt(2) + 2 sqrt(10))
#        = (sqrt(2) + 0.2 sqrt(10)) / (4 sqrt(2) + 2 sqrt(10))
ERR = torch.tensor([[0.9, 0.9, 0.9], [0.9, 0.4, 0.1], [0.9, -0.1, 0.2]]).view(1, 1, 3, 3)
HAND = (math.sqrt(2) + 0.2 * math.sqrt(10)) / (4 * math.sqrt(2) + 2 * math.sqrt(10))
PLAIN_L1 = (5 * 0.9 + 0.4 + 0.1 + 0.1 + 0.2) / 9


def test_sobel_magnitude_matches_the_hand_computation() -> None:
    torch.testing.assert_close(sobel_magnitude(HR), E)


def test_edge_l1_matches_the_hand_computation() -> None:
    sr = HR + ERR
    assert float(edge_l1_loss(sr, HR)) == pytest.approx(HAND, rel=1e-6)
    assert float(EdgeL1Loss()(sr, HR)) == pytest.approx(HAND, rel=1e-6)
    assert float(l1_loss(sr, HR)) == pytest.approx(PLAIN_L1, rel=1e-6)


def test_the_crop_border_makes_no_edges() -> None:
    """A constant image has no edges with replicate or reflect padding (zero padding would ring it)."""
    flat = torch.full((2, 3, 5, 6), 0.7)
    for padding in ("replicate", "reflect"):
        assert torch.equal(sobel_magnitude(flat, padding), torch.zeros_like(flat))
    # ... and the loss of a flat target is 0, not 0/0
    assert float(edge_l1_loss(flat + 0.1, flat)) == 0.0
    with pytest.raises(ValueError, match="padding must be one of replicate, reflect"):
        sobel_magnitude(flat, "zeros")


def test_per_channel_and_per_sample() -> None:
    """Channels get their own edge map; ``reduction='sample'`` normalises each sample by its own edges."""
    hr = torch.cat([HR, torch.zeros_like(HR), 2 * HR], dim=1)  # (1, 3, 3, 3)
    torch.testing.assert_close(sobel_magnitude(hr), torch.cat([E, torch.zeros_like(E), 2 * E], dim=1))
    err = torch.cat([ERR, torch.full_like(ERR, 5.0), ERR], dim=1)  # channel 1 has no edges: no weight
    assert float(edge_l1_loss(hr + err, hr)) == pytest.approx(HAND, rel=1e-6)
    batch_hr, batch_sr = torch.cat([HR, HR]), torch.cat([HR + ERR, HR + 2 * ERR])
    per_sample = edge_l1_loss(batch_sr, batch_hr, reduction="sample")
    torch.testing.assert_close(per_sample, torch.tensor([HAND, 2 * HAND]))
    assert float(edge_l1_loss(batch_sr, batch_hr)) == pytest.approx(1.5 * HAND, rel=1e-6)


def test_the_edge_map_is_detached_and_float32() -> None:
    hr = HR.clone().to(torch.bfloat16).requires_grad_(True)
    sr = (HR + ERR).to(torch.bfloat16).requires_grad_(True)
    loss = edge_l1_loss(sr, hr)
    assert loss.dtype == torch.float32
    loss.backward()
    assert sr.grad is not None and hr.grad is not None
    # the gradient w.r.t. SR is sign(err) * E / sum(E): the edge map is a constant weight
    want = torch.sign(ERR) * E / E.sum()
    torch.testing.assert_close(sr.grad.float(), want, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(hr.grad.float(), -want, atol=1e-2, rtol=1e-2)


def test_mix_weights_plain_l1() -> None:
    sr = HR + ERR
    loss = EdgeL1Loss(mix=0.25)(sr, HR)
    assert float(loss) == pytest.approx(0.75 * HAND + 0.25 * PLAIN_L1, rel=1e-6)
    assert float(EdgeL1Loss(mix=1.0)(sr, HR)) == pytest.approx(PLAIN_L1, rel=1e-6)
    with pytest.raises(ValueError, match=r"mix must be in \[0, 1\]"):
        EdgeL1Loss(mix=1.5)


def test_start_switches_the_edge_term_on_through_the_progress_hook() -> None:
    sr = HR + ERR
    loss = EdgeL1Loss(start=0.5)
    assert isinstance(loss, ProgressAware)
    with pytest.raises(RuntimeError, match=r"start=0\.5 needs the training progress"):
        loss(sr, HR)
    values = []
    for step in range(10):
        set_progress(loss, step, 10)
        values.append(float(loss(sr, HR)))
    assert values[:5] == pytest.approx([PLAIN_L1] * 5, rel=1e-6)  # steps 0-4: plain L1
    assert values[5:] == pytest.approx([HAND] * 5, rel=1e-6)  # from step ceil(0.5 * 10) = 5
    set_progress(loss, 2, 3)  # ceil(1.5) = 2: on from the third step of three
    assert float(loss(sr, HR)) == pytest.approx(HAND, rel=1e-6)


def test_registered_as_a_pixel_loss_with_options() -> None:
    assert "edge_l1" in LOSS_TYPES
    assert LossConfig(type="edge_l1").type == "edge_l1"  # every objective's config accepts it
    total_fn = build_loss([("l1", 0.5, {}), ("edge_l1", 1.0, {"mix": 0.5, "start": 0.5})])
    sr = HR + ERR
    set_progress(total_fn, 0, 4)  # reaches the term inside the WeightedSum
    total, parts = total_fn(sr, HR)
    assert float(parts["edge_l1"]) == pytest.approx(PLAIN_L1, rel=1e-6)
    set_progress(total_fn, 2, 4)
    total, parts = total_fn(sr, HR)
    assert float(parts["edge_l1"]) == pytest.approx(0.5 * HAND + 0.5 * PLAIN_L1, rel=1e-6)
    assert float(total) == pytest.approx(0.5 * PLAIN_L1 + float(parts["edge_l1"]), rel=1e-6)


def test_edge_l1_start_switches_on_during_training(tmp_path: Path) -> None:
    """``objective.losses: [{type: edge_l1, start: 0.5, mix: 0.2}]`` trains: every objective tells the loss
    the step, and the edge weighting is on from step ceil(0.5 * total)."""
    import pytest

    from srkit.errors import ConfigError
    from srkit.train.config import build_config
    from srkit.train.engine import train
    from test_train_support import tiny_config

    for name in ("pixel", "erm", "group_dro"):
        raw = tiny_config(tmp_path / name, train={"steps": 4})
        raw["objective"] = {"name": name, "losses": [{"type": "edge_l1", "start": 0.5, "mix": 0.2}]}
        result = train(build_config(raw), run_dir=tmp_path / name / "run")
        assert result.step == 4
    for gan_weight in (0.0, 0.005):  # the GAN objective's pixel term: content-only and adversarial steps
        raw = tiny_config(
            tmp_path / f"gan{gan_weight}", train={"steps": 4}, data={"train": {"patch_size": 16}}
        )
        raw["objective"] = {
            "name": "gan", "gan_weight": gan_weight, "perceptual_weight": 0.0, "pixel_weight": 1.0,
            "pixel_type": "edge_l1", "pixel_options": {"start": 0.5, "mix": 0.2},
            "discriminator": {"vgg_blk_ch": [4, 4, 4, 4, 4, 4, 4, 4, 4, 4], "fc_features": [4]},
        }  # fmt: skip
        assert train(build_config(raw), run_dir=tmp_path / f"gan{gan_weight}" / "run").step == 4
    raw = tiny_config(tmp_path / "badgan")
    raw["objective"] = {"name": "gan", "pixel_type": "l1", "pixel_options": {"mix": 0.2}}
    with pytest.raises(ConfigError, match=r"objective\.pixel_options\.mix: only edge_l1 takes mix, not l1"):
        build_config(raw)
    raw = tiny_config(tmp_path / "bad")
    raw["objective"] = {"name": "pixel", "losses": [{"type": "l1", "start": 0.5}]}
    with pytest.raises(ConfigError, match="start: only edge_l1 takes start, not l1"):
        build_config(raw)
