"""Optimisers, learning-rate schedules with warm-up, EMA, and the engine's optimiser step (clipping and
the non-finite guard)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from srkit.errors import ConfigError
from srkit.train.config import OptimConfig, ScheduleConfig, build_config
from srkit.train.ema import EMA, ema_decay_at
from srkit.train.engine import Engine, NonFiniteError
from srkit.train.optim import build_optimizer, build_scheduler, lr_factor, schedule_factor
from test_train_support import tiny_config


def _lrs(cfg: ScheduleConfig, steps: int, base: float = 0.1, total: int = 100) -> list[float]:
    """The LR each optimiser step uses, through a real optimiser and LambdaLR."""
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base)
    sched = build_scheduler(opt, cfg, total)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _torch_lrs(make: type, steps: int, base: float = 0.1, **kwargs: object) -> list[float]:
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base)
    sched = make(opt, **kwargs)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_and_multistep_match_pytorch() -> None:
    step = _lrs(ScheduleConfig(type="step", step_size=7, gamma=0.5), 30)
    assert step == pytest.approx(_torch_lrs(torch.optim.lr_scheduler.StepLR, 30, step_size=7, gamma=0.5))
    assert (
        step[6] == pytest.approx(0.1) and step[7] == pytest.approx(0.05) and step[14] == pytest.approx(0.025)
    )
    multi = _lrs(ScheduleConfig(type="multistep", milestones=[5, 12], gamma=0.1), 20)
    expected = _torch_lrs(torch.optim.lr_scheduler.MultiStepLR, 20, milestones=[5, 12], gamma=0.1)
    assert multi == pytest.approx(expected)


def test_cosine_matches_pytorch_and_stays_at_the_floor() -> None:
    cfg = ScheduleConfig(type="cosine", period=10, eta_min=0.01)
    ours = _lrs(cfg, 11)
    expected = _torch_lrs(torch.optim.lr_scheduler.CosineAnnealingLR, 11, T_max=10, eta_min=0.01)
    assert ours == pytest.approx(expected)
    assert lr_factor(10, cfg, 0.1, 100) == pytest.approx(0.1)  # eta_min / base
    assert lr_factor(50, cfg, 0.1, 100) == pytest.approx(0.1)
    # default period: the run's total steps
    default = ScheduleConfig(type="cosine")
    assert lr_factor(50, default, 0.1, 100) == pytest.approx(0.5)
    assert lr_factor(100, default, 0.1, 100) == pytest.approx(0.0)


def test_cosine_restarts_as_basicsr() -> None:
    cfg = ScheduleConfig(type="cosine_restarts", periods=[4, 8], restart_weights=[1.0, 0.5], eta_min=0.0)
    factors = [schedule_factor(s, cfg, 1.0, 100) for s in range(14)]
    assert factors[0] == 1.0 and factors[2] == pytest.approx(0.5)
    assert factors[4] == pytest.approx(0.5)  # restart at half height
    assert factors[8] == pytest.approx(0.25)  # half-way through the second cycle: 0.5 * 0.5
    assert factors[12] == 0.0 and factors[13] == 0.0  # after the last cycle: eta_min
    assert factors[3] == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 4)))


def test_piecewise_and_constant() -> None:
    cfg = ScheduleConfig(type="piecewise", boundaries=[3, 6], factors=[1.0, 0.3, 0.01])
    assert [schedule_factor(s, cfg, 1.0, 10) for s in (0, 2, 3, 5, 6, 99)] == [1.0, 1.0, 0.3, 0.3, 0.01, 0.01]
    assert _lrs(ScheduleConfig(), 5) == [0.1] * 5


def test_linear_warmup_multiplies_the_schedule() -> None:
    cfg = ScheduleConfig(type="step", step_size=6, gamma=0.5, warmup_steps=4)
    assert _lrs(cfg, 8, base=1.0) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.5, 0.5])


def test_schedule_resumes_from_its_state() -> None:
    cfg = ScheduleConfig(type="cosine", warmup_steps=3)
    full = _lrs(cfg, 20, total=20)
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = build_scheduler(opt, cfg, 20)
    for _ in range(9):
        opt.step()
        sched.step()
    state_o, state_s = opt.state_dict(), sched.state_dict()
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched2 = build_scheduler(opt2, cfg, 20)
    opt2.load_state_dict(state_o)
    sched2.load_state_dict(state_s)
    rest = []
    for _ in range(11):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert rest == full[9:]


def test_build_optimizer_types_and_settings() -> None:
    model = nn.Linear(2, 2)
    adam = build_optimizer(model, OptimConfig(lr=1e-3, betas=(0.8, 0.9)))
    assert type(adam) is torch.optim.Adam
    assert adam.param_groups[0]["betas"] == (0.8, 0.9) and adam.param_groups[0]["lr"] == 1e-3
    adamw = build_optimizer(model, OptimConfig(type="adamw", lr=1e-3, weight_decay=0.01))
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 0.01
    assert [len(g["params"]) for g in adamw.param_groups] == [1, 1]  # weight decayed, bias not
    model.bias.requires_grad_(False)
    assert len(build_optimizer(model, OptimConfig(lr=1.0)).param_groups[0]["params"]) == 1


def _decay_step(model: nn.Module, cfg: OptimConfig) -> dict[str, bool]:
    """One AdamW step with zero gradients: which parameters weight decay moved."""
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt = build_optimizer(model, cfg)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    return {name: not torch.equal(p.detach(), before[name]) for name, p in model.named_parameters()}


def test_weight_decay_skips_norms_biases_and_position_tables() -> None:
    from srkit.archs import build_model

    torch.manual_seed(0)
    net = build_model(
        "swinir", scale=2, embed_dim=12, depths=[2], num_heads=[2], window_size=4, img_size=8,
        mlp_ratio=2.0, upsampler="pixelshuffledirect",
    )  # fmt: skip
    for p in net.parameters():  # non-zero everywhere, so that decay would show
        nn.init.uniform_(p, 0.5, 1.0)
    moved = _decay_step(net, OptimConfig(type="adamw", lr=0.1, weight_decay=0.5))
    kept = {name for name, m in moved.items() if not m}
    assert kept == net.no_weight_decay()
    assert any("relative_position_bias_table" in name for name in kept)
    assert {"conv_first.bias", "patch_embed.norm.weight", "norm.bias"} <= kept
    assert all(name.endswith("weight") and net.get_parameter(name).ndim > 1 for name in moved.keys() - kept)
    assert moved["conv_first.weight"] and moved["layers.0.residual_group.blocks.0.attn.qkv.weight"]
    # decay_exclude: none decays everything (one flat group), as before parameter groups
    flat = _decay_step(net, OptimConfig(type="adamw", lr=0.1, weight_decay=0.5, decay_exclude="none"))
    assert all(flat.values())
    # a plain module (a discriminator): 1-D parameters are left alone
    disc = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    for p in disc.parameters():
        nn.init.uniform_(p, 0.5, 1.0)
    assert _decay_step(disc, OptimConfig(type="adamw", lr=0.1, weight_decay=0.5)) == {
        "0.weight": True, "0.bias": False, "1.weight": False, "1.bias": False,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# EMA
# --------------------------------------------------------------------------------------------------


def test_ema_averages_parameters_and_buffers() -> None:
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    ema = EMA(model, decay=0.9, warmup=False)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[1].running_mean.fill_(2.0)
        model[1].num_batches_tracked.fill_(7)
    assert ema.update(model) == 0.9
    assert ema.module[0].weight.item() == pytest.approx(0.1)
    assert ema.module[1].running_mean.item() == pytest.approx(0.2)  # float buffer: averaged
    assert ema.module[1].num_batches_tracked.item() == 7  # integer buffer: copied
    ema.update(model)
    assert ema.module[0].weight.item() == pytest.approx(0.19)
    assert not ema.module[0].weight.requires_grad and not ema.module.training
    assert model[0].weight.item() == 1.0  # the live model is untouched


def test_ema_warmup_and_state() -> None:
    assert ema_decay_at(0.999, 0, True) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 90, True) == pytest.approx(91 / 100)
    assert ema_decay_at(0.999, 10**6, True) == 0.999
    assert ema_decay_at(0.999, 0, False) == 0.999
    model = nn.Linear(2, 1)
    ema = EMA(model, 0.99)
    for _ in range(3):
        ema.update(model)
    state = ema.state_dict()
    other = EMA(nn.Linear(2, 1), 0.99)
    other.load_state_dict(state)
    assert other.updates == 3
    assert torch.equal(other.module.weight, ema.module.weight)
    with pytest.raises(ValueError, match="decay"):
        EMA(model, 1.0)


# --------------------------------------------------------------------------------------------------
# the engine's optimiser step
# --------------------------------------------------------------------------------------------------


def _engine(tmp_path: Path, **train: object) -> Engine:
    return Engine(build_config(tiny_config(tmp_path, train=train)), tmp_path / "run")


def test_optimizer_step_clips_and_reports_the_norm(tmp_path: Path) -> None:
    engine = _engine(tmp_path, grad_clip=0.5)
    params = [p for p in engine.raw_model.parameters()]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.full_like(p, 3.0)
    n = sum(p.numel() for p in params)
    optimizer = torch.optim.SGD(params, lr=1.0)
    norm = engine.optimizer_step(optimizer)
    assert norm == pytest.approx(3.0 * math.sqrt(n), rel=1e-5)
    # SGD with lr 1: the step is the clipped gradient, whose global norm is 0.5
    step_norm = torch.sqrt(sum(((b - p.detach()) ** 2).sum() for b, p in zip(before, params, strict=True)))
    assert step_norm.item() == pytest.approx(0.5, rel=1e-4)
    assert all(p.grad is None for p in params)


def test_optimizer_step_refuses_non_finite_gradients(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    params = list(engine.raw_model.parameters())
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    params[0].grad.view(-1)[0] = float("nan")
    engine.step = 41
    with pytest.raises(NonFiniteError, match=r"^step 42: gradient norm is nan \(training diverged\)"):
        engine.optimizer_step(torch.optim.SGD(params, lr=1.0))
    assert all(torch.equal(b, p) for b, p in zip(before, params, strict=True))


def test_engine_rejects_what_the_hardware_or_arch_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model: edsr: scale=5 is not supported"):
        Engine(build_config(tiny_config(tmp_path, scale=5)), tmp_path / "run")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"^train\.precision: fp16 needs CUDA; use bf16 on CPU$"):
            _engine(tmp_path, precision="fp16")
        with pytest.raises(ConfigError, match=r"^train\.device: 'cuda' asked for"):
            _engine(tmp_path, device="cuda")
