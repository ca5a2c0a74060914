"""Degradation-robust training: the Group DRO q update against hand computations, per-group statistics,
group-balanced batches, ERM = pixel training, q in the training state (exact resume), the all-reduce of
group losses over 2 gloo processes, per-group validation with worst-group early stopping, and
``model.init`` (pre-trained weights, x2 -> x4)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from srkit.archs import build_model, save_weights
from srkit.data.sampler import TrainBatchSampler, balanced_groups, build_train_loader
from srkit.data.train import GroupWeight, SRTrainDataset
from srkit.errors import ConfigError
from srkit.io.checkpoint import read_weights
from srkit.losses import build_loss
from srkit.train.config import build_config
from srkit.train.engine import Engine, train
from srkit.train.network import load_init_weights
from srkit.train.objectives.robust import (
    adjustment_term,
    all_reduce_sums,
    dro_update,
    group_sums,
    smooth_losses,
)
from srkit.train.state import load_state
from test_train_support import (
    assert_same_tensors,
    load_weights,
    subprocess_env,
    tiny_config,
    tiny_data,
    write_config,
)

GROUPS = [{"name": "bicubic"}, {"name": "nearest"}]


def _records(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


# -- the q update ----------------------------------------------------------------------------------


def test_q_update_matches_a_hand_computation_over_three_steps() -> None:
    # q_g <- q_g * exp(eta * L_g) / Z, by hand with eta = 0.5 on three groups
    eta = 0.5
    losses = [[0.2, 0.4, 1.0], [0.1, 0.5, 0.3], [0.0, 0.0, 2.0]]
    q = torch.full((3,), 1 / 3, dtype=torch.float64)
    expected = [1 / 3, 1 / 3, 1 / 3]
    for step_losses in losses:
        q = dro_update(q, torch.tensor(step_losses, dtype=torch.float64), eta)
        unnorm = [p * math.exp(eta * loss) for p, loss in zip(expected, step_losses, strict=True)]
        expected = [u / sum(unnorm) for u in unnorm]
        assert q.tolist() == pytest.approx(expected, abs=1e-12)
    # after three steps q is proportional to exp(eta * cumulative loss): 0.3, 0.9, 3.3
    cumulative = np.exp(eta * np.array([0.3, 0.9, 3.3]))
    assert q.numpy() == pytest.approx(cumulative / cumulative.sum(), abs=1e-12)
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-15)
    assert int(q.argmax()) == 2  # the worst group gains weight


def test_q_update_with_adjustment_and_without_overflow() -> None:
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    adj = adjustment_term(2.0, [100, 25])  # C / sqrt(n): 0.2 and 0.4
    assert adj.tolist() == pytest.approx([0.2, 0.4])
    out = dro_update(q, torch.tensor([1.0, 1.0]), 1.0, adj)
    e = [math.exp(1.2), math.exp(1.4)]
    assert out.tolist() == pytest.approx([e[0] / sum(e), e[1] / sum(e)], abs=1e-12)
    # equal adjustments (equal group sizes) change nothing
    same = dro_update(q, torch.tensor([0.3, 0.7]), 1.0, adjustment_term(2.0, [50, 50]))
    assert same.tolist() == pytest.approx(dro_update(q, torch.tensor([0.3, 0.7]), 1.0).tolist(), abs=1e-12)
    big = dro_update(q, torch.tensor([1000.0, 0.0]), 10.0)  # exp(10000) would overflow
    assert torch.isfinite(big).all() and big.tolist() == pytest.approx([1.0, 0.0])


def test_smoothing_takes_first_value_then_moves_by_gamma_and_keeps_absent_groups() -> None:
    avg = torch.zeros(3, dtype=torch.float64)
    seen = torch.zeros(3, dtype=torch.bool)
    avg, seen = smooth_losses(
        avg, seen, torch.tensor([1.0, 2.0, 9.0]), torch.tensor([True, True, False]), 0.1
    )
    assert avg.tolist() == [1.0, 2.0, 0.0] and seen.tolist() == [True, True, False]
    avg, seen = smooth_losses(
        avg, seen, torch.tensor([2.0, 0.0, 4.0]), torch.tensor([True, False, True]), 0.1
    )
    assert avg.tolist() == pytest.approx([0.9 * 1.0 + 0.1 * 2.0, 2.0, 4.0])


def test_group_sums_and_counts() -> None:
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    sums, counts = group_sums(losses, torch.tensor([2, 0, 2, 2]), 4)
    assert sums.tolist() == [2.0, 0.0, 8.0, 0.0] and counts.tolist() == [1.0, 0.0, 3.0, 0.0]
    sums[2].backward()
    assert losses.grad.tolist() == [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        group_sums(losses, torch.tensor([0, 1]), 2)


def test_per_sample_losses_average_to_the_batch_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 8, 8, generator=gen), torch.rand(3, 3, 8, 8, generator=gen)
    loss = build_loss([("l1", 1.0, {}), ("charbonnier", 0.5, {"eps": 1e-3})])
    total, _ = loss(a, b)
    per, parts = loss(a, b, reduction="sample")
    assert per.shape == (3,) and parts["l1"].shape == (3,)
    assert float(per.mean()) == pytest.approx(float(total), rel=1e-6)
    assert float(per[1]) == pytest.approx(float(loss(a[1:2], b[1:2])[0]), rel=1e-6)


# -- group-balanced batches -------------------------------------------------------------------------


def test_balanced_groups_put_every_group_in_every_batch() -> None:
    for batch in range(20):
        ids = balanced_groups([1, 1, 1, 1], 10, seed=3, epoch=1, batch=batch)
        counts = np.bincount(ids, minlength=4)
        assert counts.min() >= 2 and counts.sum() == 10 and counts.max() <= 3
    exact = balanced_groups([1, 5], 8, seed=0, epoch=0, batch=0)
    assert np.bincount(exact).tolist() == [4, 4]  # divisible: weights do not matter
    again = balanced_groups([1, 5], 8, seed=0, epoch=0, batch=0)
    assert np.array_equal(exact, again)  # a pure function (resumable)
    orders = {tuple(balanced_groups([1, 1], 8, seed=0, epoch=0, batch=b)) for b in range(10)}
    assert len(orders) > 1  # shuffled differently per batch
    with pytest.raises(ConfigError, match="balance_groups"):
        balanced_groups([1, 1, 1], 2, seed=0, epoch=0, batch=0)


def test_balanced_sampler_forces_the_groups_of_the_dataset(tmp_path: Path) -> None:
    hr, _ = tiny_data(tmp_path)
    names = ["bicubic", "nearest", "area"]
    dataset = SRTrainDataset([str(hr)], scale=2, patch_size=8, groups=[GroupWeight(n) for n in names], seed=1)
    loader = build_train_loader(dataset, 6, 0, seed=1, balance_groups=True)
    it = iter(loader)
    for _ in range(3):
        batch = next(it)
        assert sorted(batch["group"].tolist()) == [0, 0, 1, 1, 2, 2]
    # the forced group decides the LR of the same patch; the HR patch stays the same
    sampler = TrainBatchSampler(len(dataset), 6, 1, group_weights=[1, 1, 1])
    key = next(k for k in next(iter(sampler)) if k.group == 1)
    item, other = dataset[key], dataset[key._replace(group=0)]
    assert item["group"] == 1 and other["group"] == 0
    assert torch.equal(item["hr"], other["hr"]) and not torch.equal(item["lr"], other["lr"])
    unbalanced = next(iter(build_train_loader(dataset, 6, 0, seed=1)))
    assert "group" in unbalanced


def test_balance_groups_config_errors_name_the_key(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, data={"train": {"groups": GROUPS * 1 + [{"name": "area"}], "batch_size": 2}})
    raw["data"]["train"]["balance_groups"] = True
    with pytest.raises(ConfigError, match=r"data\.train\.balance_groups: 3 groups do not fit a batch of 2"):
        build_config(raw)
    with pytest.raises(ConfigError, match=r"data\.val\.groups"):
        build_config(tiny_config(tmp_path, data={"val": {"groups": ["bicubic", "blurry"]}}))
    with pytest.raises(ConfigError, match=r"objective\.eta"):
        build_config(tiny_config(tmp_path, objective={"name": "group_dro", "eta": -1}))


# -- the objectives in the engine -------------------------------------------------------------------


def test_erm_step_equals_pixel_step(tmp_path: Path) -> None:
    # ERM (the mean over every sample) is the pixel objective, whatever the groups
    data = {"train": {"groups": GROUPS}}
    weights = {}
    for name in ("pixel", "erm"):
        config = build_config(
            tiny_config(tmp_path, data=data, objective={"name": name}, train={"steps": 3}, name=name)
        )
        result = train(config, run_dir=tmp_path / name)
        weights[name] = load_weights(result.weights)
    for key, value in weights["pixel"].items():
        assert torch.allclose(value, weights["erm"][key], atol=1e-6, rtol=1e-5), key
    erm = _records(tmp_path / "erm", "train")
    assert {"loss_bicubic", "loss_nearest"} <= erm[0].keys()
    assert "q_bicubic" not in erm[0]


def test_group_dro_step_minimises_the_q_weighted_loss(tmp_path: Path) -> None:
    config = build_config(
        tiny_config(
            tmp_path,
            data={"train": {"groups": GROUPS, "balance_groups": True}},
            objective={"name": "group_dro", "eta": 2.0},
            optim={"type": "adam", "lr": 1e-3},
            train={"steps": 1},
        )
    )
    engine = Engine(config, tmp_path / "run")
    batch = engine._prepare(next(iter(engine._loader(0))))
    objective = engine.objective
    before = {k: v.clone() for k, v in engine.raw_model.state_dict().items()}

    # expected: the per-group means, q after one update from uniform, loss sum_g q_g L_g
    with torch.no_grad():
        sr = engine.model(batch["lr"])
        per = (sr - batch["hr"]).abs().flatten(1).mean(1)
    groups = batch["group"]
    means = torch.stack([per[groups == g].mean() for g in range(2)]).double()
    e = torch.exp(2.0 * means)
    q = e / e.sum()
    values = objective.train_step(batch, 0)
    assert values["loss"] == pytest.approx(float((q * means).sum()), rel=1e-5)
    assert values["q_nearest"] == pytest.approx(float(q[1]), rel=1e-9)
    assert values["loss_bicubic"] == pytest.approx(float(means[0]), rel=1e-5)
    assert objective.q.tolist() == pytest.approx(q.tolist(), rel=1e-9)

    # the gradient is that of sum_g q_g L_g: redo it by hand from the same weights
    model = build_model("edsr", scale=2, num_feat=8, num_block=2)
    model.load_state_dict(before)
    per = (model(batch["lr"]) - batch["hr"]).abs().flatten(1).mean(1)
    robust = sum(q[g].float() * per[groups == g].mean() for g in range(2))
    robust.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    # Adam's first step moves each weight by -lr * sign(grad) (up to eps)
    for name, param in engine.raw_model.named_parameters():
        moved = param.detach() - before[name]
        sign = torch.sign(grads[name])
        mask = grads[name].abs() > 1e-6
        assert torch.allclose(moved[mask], -1e-3 * sign[mask], rtol=1e-2), name


def _dro_config(tmp_path: Path, steps: int, **extra) -> dict:
    return tiny_config(
        tmp_path,
        data={"train": {"groups": GROUPS, "balance_groups": True}, "val": {"groups": ["bicubic", "nearest"]}},
        objective={"name": "group_dro", "eta": 1.0, "smoothing": 0.5},
        train={"steps": steps, "checkpoint_every": 4, "best_metric": "worst_psnr", **extra},
    )


def test_resume_carries_q_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    full = train(build_config(_dro_config(tmp_path, 8)), run_dir=tmp_path / "full")
    part = tmp_path / "part"
    train(build_config(_dro_config(tmp_path, 4)), run_dir=part)
    q_mid = load_state(part / "state.pt")["objective"]["q"]
    assert not torch.allclose(q_mid, torch.full_like(q_mid, 0.5))  # q has moved
    resumed = train(build_config(_dro_config(tmp_path, 8)), run_dir=part, resume=part / "state.pt")
    assert_same_tensors(load_weights(full.weights), load_weights(resumed.weights))
    a, b = load_state(tmp_path / "full" / "state.pt"), load_state(part / "state.pt")
    assert torch.equal(a["objective"]["q"], b["objective"]["q"])
    assert torch.equal(a["objective"]["avg_loss"], b["objective"]["avg_loss"])
    records = _records(tmp_path / "full", "train")
    assert records[-1]["q_bicubic"] + records[-1]["q_nearest"] == pytest.approx(1.0)


def test_worst_group_validation_selects_the_best_checkpoint(tmp_path: Path) -> None:
    result = train(build_config(_dro_config(tmp_path, 20, log_every=10)), run_dir=tmp_path / "run")
    vals = _records(tmp_path / "run", "val")
    assert {"val/bicubic/psnr", "val/nearest/psnr", "worst_psnr"} <= vals[-1].keys()
    best = max(vals[1:], key=lambda r: r["worst_psnr"])  # vals[0] is the bicubic baseline
    assert result.best is not None and result.best["step"] == best["step"]
    assert result.best["worst_psnr"] == pytest.approx(best["worst_psnr"])
    assert best["worst_psnr"] == min(best["val/bicubic/psnr"], best["val/nearest/psnr"])
    meta = read_weights(tmp_path / "run" / "best.safetensors")[1]
    assert meta.extra["step"] == best["step"] and meta.extra["objective"] == "group_dro"


# -- DDP -----------------------------------------------------------------------------------------------


def _reduce_worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        losses = [torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.4, 0.5, 0.9])][rank]
        groups = [torch.tensor([0, 0, 1]), torch.tensor([1, 2, 2])][rank]
        sums, counts = group_sums(losses, groups, 3)
        sums, counts = all_reduce_sums(sums, counts)
        q = dro_update(torch.full((3,), 1 / 3, dtype=torch.float64), sums / counts, 1.0)
        torch.save({"sums": sums, "counts": counts, "q": q}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_group_losses_are_all_reduced_over_two_gloo_processes(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_reduce_worker, args=(port, str(tmp_path)), nprocs=2, start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    # what one process computes from the whole batch
    sums, counts = group_sums(
        torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.9]), torch.tensor([0, 0, 1, 1, 2, 2]), 3
    )
    q = dro_update(torch.full((3,), 1 / 3, dtype=torch.float64), sums / counts, 1.0)
    for r in (r0, r1):
        assert r["counts"].tolist() == [2.0, 2.0, 2.0]
        assert r["sums"].tolist() == pytest.approx([0.3, 0.7, 1.4])
        assert torch.allclose(r["q"], q)
    assert torch.equal(r0["q"], r1["q"])


@pytest.mark.slow
def test_torchrun_group_dro_matches_one_process(tmp_path: Path) -> None:
    raw = tiny_config(
        tmp_path,
        data={"train": {"groups": GROUPS}},  # i.i.d. groups per index: the same in any world size
        objective={"name": "group_dro", "eta": 1.0},
        train={"steps": 10, "log_every": 5, "checkpoint_every": 10},
    )
    config = write_config(tmp_path / "dro.yaml", raw)
    single = train(build_config(raw), run_dir=tmp_path / "single")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "srkit", "train", str(config), "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"
    q_single = load_state(single.run_dir / "state.pt")["objective"]["q"]
    q_ddp = load_state(tmp_path / "ddp" / "state.pt")["objective"]["q"]
    assert torch.allclose(q_single, q_ddp, rtol=1e-4)
    a, b = load_weights(single.weights), load_weights(tmp_path / "ddp" / "model.safetensors")
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key


# -- model.init -------------------------------------------------------------------------------------


def test_init_weights_strict_and_across_scales(tmp_path: Path) -> None:
    x2 = build_model("edsr", scale=2, num_feat=8, num_block=2)
    path = save_weights(tmp_path / "x2.safetensors", x2)
    fresh = build_model("edsr", scale=2, num_feat=8, num_block=2)
    loaded, kept = load_init_weights(fresh, path)
    assert kept == [] and loaded == len(x2.state_dict())
    assert_same_tensors(fresh.state_dict(), x2.state_dict())

    x4 = build_model("edsr", scale=4, num_feat=8, num_block=2)
    with pytest.raises(ConfigError, match=r"model\.init: .*x2\.safetensors.*init_strict"):
        load_init_weights(x4, path)
    loaded, kept = load_init_weights(x4, path, strict=False)
    assert kept and all(k.startswith("upsample") for k in kept)
    assert torch.equal(x4.state_dict()["conv_first.weight"], x2.state_dict()["conv_first.weight"])
    other = build_model("rrdbnet", scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    with pytest.raises(ConfigError, match="same architecture"):
        load_init_weights(other, path, strict=False)


def test_training_starts_from_init_weights(tmp_path: Path) -> None:
    first = train(build_config(tiny_config(tmp_path, train={"steps": 10})), run_dir=tmp_path / "a")
    raw = tiny_config(tmp_path, train={"steps": 1}, optim={"type": "adam", "lr": 1e-12})
    raw["model"]["init"] = str(first.weights)
    second = train(build_config(raw), run_dir=tmp_path / "b")
    a, b = load_weights(first.weights), load_weights(second.weights)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-9), key


# -- the study's recipes ----------------------------------------------------------------------------

STUDY = Path(__file__).resolve().parents[1] / "configs" / "robust"


@pytest.mark.parametrize("scale", [2, 4])
def test_study_arms_differ_only_in_groups_and_objective(scale: int) -> None:
    from srkit.train.config import config_to_dict, load_config

    arms = {a: load_config(STUDY / f"edsr_baseline_x{scale}_{a}.yaml") for a in ("bicubic", "erm", "dro")}
    assert [g.name for g in arms["bicubic"].data.train.groups] == ["bicubic"]
    for arm in ("erm", "dro"):
        assert [g.name for g in arms[arm].data.train.groups] == ["bicubic", "bilinear", "nearest", "area"]
        assert arms[arm].data.train.balance_groups
    assert arms["erm"].objective.name == "erm" and arms["dro"].objective.name == "group_dro"
    assert arms["dro"].train.best_metric == "worst_psnr"
    flat = {a: config_to_dict(c) for a, c in arms.items()}
    for arm in ("erm", "dro"):  # the same start, data, budget and optimiser
        for key in ("scale", "model", "optim", "schedule", "seed"):
            assert flat[arm][key] == flat["bicubic"][key], key
        assert flat[arm]["train"]["steps"] == flat["bicubic"]["train"]["steps"]
        assert flat[arm]["data"]["train"]["patch_size"] == flat["bicubic"]["data"]["train"]["patch_size"]
        assert flat[arm]["data"]["val"] == flat["bicubic"]["data"]["val"]


@pytest.mark.parametrize(
    "path",
    sorted(STUDY.glob("*.yaml")) + sorted((STUDY.parent / "finetune").glob("*.yaml")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_study_and_finetune_recipes_validate_and_start_from_the_shipped_x2(path: Path) -> None:
    import yaml

    from srkit.train.config import dump_config, load_config

    config = load_config(path)
    assert build_config(yaml.safe_load(dump_config(config))) == config
    assert config.model.init == "src/srkit/weights/edsr-baseline-x2.safetensors"
    assert config.model.init_strict == (config.scale == 2)  # other scales keep their fresh upsampler
    assert (Path(__file__).resolve().parents[1] / config.model.init).is_file()
    assert config.train.steps == 500 and config.data.train.batch_size == 16
