"""SR3 (srkit.archs.sr3, srkit.train.objectives.diffusion): the U-Net and its presets, the schedules and
samplers against their papers' formulas, the runner (seeds, batches, the trained-range rule), the diffusion
objective (one step by hand, exact resume, bf16 + EMA), the seed's checkpoint layouts and the CLI options."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import srkit.archs as A
from srkit.archs.sr3 import PRESETS, SR3Runner, SR3UNet
from srkit.archs.sr3 import sampling as S
from srkit.archs.tiles import blend_tiles, tile_spans
from srkit.cli import main
from srkit.degrade import resize
from srkit.errors import ConfigError
from srkit.infer.cli import SAMPLERS
from srkit.infer.tiling import upscale_tiled
from srkit.io.checkpoint import read_weights
from srkit.train.config import build_config, load_config
from srkit.train.engine import Engine, train
from srkit.train.objectives.diffusion import blur_batch, gaussian_kernels
from srkit.train.state import load_state
from test_train_support import assert_same_tensors, load_weights, tiny_config, tiny_data

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY: dict[str, Any] = {
    "base_channels": 8,
    "channel_mults": [1, 2],
    "num_res_blocks": 1,
    "attn_depths": [-1],
    "emb_mult": 2,
    "sample_steps": 3,
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny convolutions on two busy cores: one thread is ~100x faster (conftest restores the count)."""
    torch.set_num_threads(1)


def _net(**over: Any) -> SR3UNet:
    torch.manual_seed(0)
    net = A.build_model("sr3", **{**TINY, "scale": 2, **over})
    assert isinstance(net, SR3UNet)
    return net.eval()


def _params(name: str) -> int:
    with torch.device("meta"):  # shapes only: the paper's presets have 550M+ parameters
        net = A.build_model(name)
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# The network and its presets
# --------------------------------------------------------------------------------------------------


def test_seed_presets_have_the_seed_codes_parameter_counts() -> None:
    """novwaul/SR3's UNet (C=56 and C=64, multipliers 1,2,4,4,8,8, 3 blocks, attention at depth 4 and the
    first middle block): ``python main.py -s`` prints these counts."""
    assert _params("sr3-seed-64to256") == 110_141_699
    assert _params("sr3-seed-32to128") == 143_837_699
    # attention at the last depth too (the seed README's wording) would be another network
    with torch.device("meta"):
        both = A.build_model("sr3-seed-64to256", attn_depths=[-2, -1])
    assert sum(p.numel() for p in both.parameters()) == 115_780_227


def test_paper_and_small_presets() -> None:
    paper = {k: PRESETS[k] for k in ("sr3-paper-16to128", "sr3-paper-64to256")}
    assert paper["sr3-paper-16to128"]["channel_mults"] == [1, 2, 4, 8, 8]
    assert paper["sr3-paper-64to256"]["channel_mults"] == [1, 2, 4, 4, 8, 8]
    assert all(p["base_channels"] == 128 and p["num_res_blocks"] == 3 for p in paper.values())
    # Table A.1's rounded counts: 550M and 625M (srkit's build: 553.3M and 604.5M, docs/sr3.md)
    assert _params("sr3-paper-16to128") == pytest.approx(550e6, rel=0.01)
    assert _params("sr3-paper-64to256") == pytest.approx(625e6, rel=0.04)
    assert _params("sr3-small") == 1_625_187


def test_presets_are_listed(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--archs"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sr3 "))
    for name in ("sr3-seed-64to256", "sr3-paper-16to128", "sr3-small", "sr3-novwaul"):
        assert name in row
    assert "upsampled" in row and "fp32/bf16" in row and " per_step " in row


def test_forward_shapes_and_net_info() -> None:
    net = _net()
    x = torch.randn(2, 6, 12, 16)
    assert net(x, torch.tensor([0.3, 0.9])).shape == (2, 3, 12, 16)
    assert net(x, torch.tensor(0.5)).shape == (2, 3, 12, 16)  # one level for the batch
    info = net.info
    assert (info.kind, info.input, info.scale, info.scales, info.size_multiple) == (
        "iterative",
        "upsampled",
        1,
        (2,),
        2,
    )
    assert info.precisions == ("fp32", "bf16") and info.tiling == "per_step" and not info.supports_scale(4)
    assert A.ARCH_ENTRIES["sr3"].describe({}).size_multiple == 32  # 2 ** (6 depths - 1)
    with pytest.raises(ConfigError, match="needs noise_level"):
        net(x)
    with pytest.raises(ConfigError, match=r"expected \(B, 6, H, W\)"):
        net(torch.randn(2, 3, 12, 16), torch.ones(2))
    with pytest.raises(ConfigError, match="not a multiple of num_groups=8"):
        A.build_model("sr3", **{**TINY, "base_channels": 12})
    with pytest.raises(ConfigError, match="attn_depths has 2"):
        A.build_model("sr3", channel_mults=[1, 2], attn_depths=[2])


def test_noise_embedding_conventions() -> None:
    """``emb_base`` is the sinusoid's frequency base, ``emb_scale`` multiplies sqrt(gamma) first."""
    level = torch.tensor([0.25, 0.8])
    seed = _net(emb_base=5000.0, emb_scale=1.0).noise_embed.sinusoid(level)
    wavegrad = _net(emb_base=10000.0, emb_scale=5000.0).noise_embed.sinusoid(level)
    n = 4  # base_channels 8: 4 sines, 4 cosines
    for emb, base, scale in ((seed, 5000.0, 1.0), (wavegrad, 10000.0, 5000.0)):
        want = torch.tensor([[scale * v * base ** (-i / (n - 1)) for i in range(n)] for v in (0.25, 0.8)])
        torch.testing.assert_close(emb, torch.cat([want.sin(), want.cos()], dim=1))


def test_blocks_start_near_the_identity() -> None:
    zero = _net(res_init_gain=0.0)
    blocks = [b for b in [*zero.down, *zero.mid, *zero.up] if hasattr(b, "conv2")]
    assert len(blocks) == 8 and all(not b.conv2.weight.detach().any() for b in blocks)
    assert torch.equal(zero(torch.randn(1, 6, 8, 8), torch.ones(1)), torch.zeros(1, 3, 8, 8))
    near = _net()
    assert 0 < float(near.conv_out.weight.detach().abs().max()) < 1e-4


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------


def test_training_gammas_lie_between_consecutive_alpha_bars() -> None:
    bars = S.train_alpha_bars(1e-4, 0.005, 1000)
    assert bars.shape == (1001,) and bars[0] == 1 and bool((bars[1:] < bars[:-1]).all())
    assert float(bars[1]) == pytest.approx(1 - 1e-4)
    assert S.trained_gamma_range(bars) == (pytest.approx(0.0777494, rel=1e-5), 1.0)
    assert float(S.train_alpha_bars(1e-4, 0.005, 2000)[-1]) == pytest.approx(0.00604498, rel=1e-5)
    t, gamma = S.draw_training_gammas(bars, 20_000, torch.Generator().manual_seed(0))
    assert t.min() == 1 and t.max() == 1000 and gamma.dtype == torch.float64
    assert bool(((bars[t] <= gamma) & (gamma <= bars[t - 1])).all())
    within = (gamma - bars[t]) / (bars[t - 1] - bars[t])  # uniform position inside its interval
    assert float(within.mean()) == pytest.approx(0.5, abs=0.01)
    again = S.draw_training_gammas(bars, 20_000, torch.Generator().manual_seed(0))
    assert torch.equal(again[1], gamma)


def test_sampling_schedules() -> None:
    seed = S.linear_beta_gammas(1e-4, 0.1, 100)
    assert S.schedule_range(seed) == (pytest.approx(0.00561876, rel=1e-5), pytest.approx(0.9999))
    betas = torch.linspace(1e-4, 0.1, 100, dtype=torch.float64)
    assert float(seed[1]) == pytest.approx((1 - 1e-4) * (1 - float(betas[1])))
    for steps in (1, 2, 7, 100):
        g = S.linear_beta_gammas_between(0.01, 0.999, steps)
        assert g.shape == (steps,) and float(g[-1]) == pytest.approx(0.01, rel=1e-9) and g[-1] >= 0.01
        assert steps == 1 or float(g[0]) == pytest.approx(0.999)
    with pytest.raises(ConfigError, match="too narrow"):
        S.linear_beta_gammas_between(0.99, 0.999, 50)


# --------------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------------


def test_sr3_step_is_algorithm_2() -> None:
    y, eps, z = torch.tensor([0.7]), torch.tensor([-0.4]), torch.tensor([1.3])
    g, g_prev = 0.5, 0.8
    alpha = g / g_prev  # 0.625
    by_hand = (0.7 - (1 - 0.625) / math.sqrt(1 - 0.5) * -0.4) / math.sqrt(0.625) + math.sqrt(1 - alpha) * 1.3
    assert float(S.sr3_step(y, eps, g, g_prev, z)) == pytest.approx(by_hand, rel=1e-6)
    # the whole loop: y_N first, one z per step except the last (t = 1 into gamma_0 = 1)
    gammas = torch.tensor([0.9, 0.4], dtype=torch.float64)
    shape = (1, 1, 2, 3)

    def denoiser(y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
        return 0.5 * y + sqrt_gamma[:, None, None, None]

    out = S.sample_sr3(denoiser, gammas, shape, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    y_n = torch.randn(shape, generator=gen)
    z_2 = torch.randn(shape, generator=gen)
    y_1 = S.sr3_step(y_n, 0.5 * y_n + math.sqrt(0.4), 0.4, 0.9, z_2)
    torch.testing.assert_close(out, S.sr3_step(y_1, 0.5 * y_1 + math.sqrt(0.9), 0.9, 1.0, None))


def test_ddim_eta0_is_deterministic_and_one_step_by_hand() -> None:
    def denoiser(y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y) * sqrt_gamma[:, None, None, None]

    shape = (2, 3, 4, 4)
    gammas = torch.tensor([0.95, 0.6, 0.2], dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    a = S.sample_ddim(denoiser, gammas, shape, gen)
    after = gen.get_state()
    assert torch.equal(a, S.sample_ddim(denoiser, gammas, shape, torch.Generator().manual_seed(5)))
    check = torch.Generator().manual_seed(5)
    y = torch.randn(shape, generator=check)
    assert torch.equal(after, check.get_state())  # eta = 0 draws y_N only
    # the first step, Song et al. Eq. 12 with sigma = 0, written out
    eps = torch.tanh(y) * math.sqrt(0.2)
    y0 = (y - math.sqrt(1 - 0.2) * eps) / math.sqrt(0.2)
    by_hand = math.sqrt(0.6) * y0 + math.sqrt(1 - 0.6) * eps
    torch.testing.assert_close(S.ddim_step(y, eps, 0.2, 0.6), by_hand)
    # a one-level schedule is one step into gamma_0 = 1: the predicted y0
    one = S.sample_ddim(denoiser, gammas[2:], shape, torch.Generator().manual_seed(5))
    torch.testing.assert_close(one, y0)
    assert S.ddim_sigma(0.2, 0.6, 0.0) == 0.0
    assert S.ddim_sigma(0.2, 0.6, 1.0) == pytest.approx(math.sqrt(0.4 / 0.8) * math.sqrt(1 - 0.2 / 0.6))
    noisy = S.sample_ddim(denoiser, gammas, shape, torch.Generator().manual_seed(5), eta=1.0)
    assert not torch.equal(noisy, a)


def test_dpmpp_2m_lands_on_a_gaussian_target() -> None:
    """Data N(mu, s^2) per pixel with its exact noise predictor E[eps | y]: the probability-flow ODE maps
    y_N to mu + s (y_N - sqrt(g_N) mu) / sqrt(g_N s^2 + 1 - g_N); DPM-Solver++(2M) must follow it."""
    mu, s = 0.2, 0.15

    def exact_eps(y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
        g = (sqrt_gamma.double() ** 2)[:, None, None, None]
        return ((1 - g).sqrt() * (y.double() - g.sqrt() * mu) / (g * s * s + 1 - g)).float()

    gammas = S.logsnr_gammas_between(1e-4, 0.9999, 25)  # the runner's default spacing for dpmpp_2m
    shape = (1, 1, 100, 200)
    out = S.sample_dpmpp_2m(exact_eps, gammas, shape, torch.Generator().manual_seed(0))
    y_n = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    g_n = float(gammas[-1])
    flow = mu + s * (y_n - math.sqrt(g_n) * mu) / math.sqrt(g_n * s * s + 1 - g_n)
    assert float((out - flow).abs().max()) < 5e-3
    assert float(out.mean()) == pytest.approx(mu, abs=0.005)
    assert float(out.std()) == pytest.approx(s, rel=0.02)
    # first order (DDIM, = DPM-Solver++(1)) is ten times further off with as few steps
    ddim = S.sample_ddim(exact_eps, gammas, shape, torch.Generator().manual_seed(0))
    assert float((ddim - flow).abs().max()) > 10 * float((out - flow).abs().max())


# --------------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------------


def _runner(net: SR3UNet | None = None, **options: Any) -> SR3Runner:
    runner = A.make_runner(net if net is not None else _net(), device="cpu", precision="fp32")
    assert isinstance(runner, SR3Runner)
    return runner.configure(**options) if options else runner


def test_same_seed_same_image_and_batches_return_every_image() -> None:
    lr = torch.rand(3, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    lr[1] = lr[0]
    a = _runner()(lr, 2)
    assert a.shape == (3, 3, 12, 14) and bool(torch.isfinite(a).all())
    assert torch.equal(a, _runner()(lr, 2))
    assert not torch.equal(a[0], a[1])  # the same LR twice in a batch: two samples
    assert not torch.equal(a, _runner(seed=1)(lr, 2))
    for sampler in ("ddim", "dpmpp_2m"):
        b = _runner(sampler=sampler, steps=2)(lr, 2)
        assert b.shape == a.shape and torch.equal(b, _runner(sampler=sampler, steps=2)(lr, 2))
    spaced = _runner(sampler="dpmpp_2m", steps=5).gamma_schedule()
    lam = 0.5 * torch.log(spaced / (1 - spaced))
    torch.testing.assert_close(lam.diff(), lam.diff()[:1].expand(4))  # uniform in log-SNR by default
    assert S.schedule_range(spaced) == pytest.approx(S.schedule_range(_runner().gamma_schedule()))


def test_residual_target_adds_the_upsampled_lr_back(tmp_path: Path) -> None:
    """The same weights generating the residual (SRDiff) instead of the image: the runner's output is the
    image model's sample plus the bicubic-upsampled LR (wherever neither clamp acts)."""
    lr = torch.rand(1, 3, 6, 8, generator=torch.Generator().manual_seed(4))
    image_net = _net()
    residual_net = _net(target="residual")
    residual_net.load_state_dict(image_net.state_dict())
    for sampler in ("sr3", "ddim"):
        image = _runner(image_net, sampler=sampler)(lr, 2)
        residual = _runner(residual_net, sampler=sampler)(lr, 2)
        up = resize(lr, 2.0, kernel="bicubic")
        want = image + up - 0.5
        free = (image > 0) & (image < 1) & (want > 0) & (want < 1)
        assert int(free.sum()) > 20
        torch.testing.assert_close(residual[free], want[free], rtol=0, atol=1e-5)
    loaded = A.load_network(A.save_weights(tmp_path / "r.safetensors", residual_net))
    assert isinstance(loaded, SR3UNet) and loaded.target == "residual"


def test_v_prediction_gives_the_samplers_the_noise() -> None:
    """``noise_from`` inverts ``training_target`` for v (Salimans and Ho 2022), so an exact v-predictor is
    an exact noise predictor for every sampler (and eps networks pass through unchanged)."""
    v_net, eps_net = _net(prediction="v"), _net()
    g = torch.Generator().manual_seed(5)
    y0, eps = torch.rand(3, 3, 4, 4, generator=g) * 2 - 1, torch.randn(3, 3, 4, 4, generator=g)
    gamma = torch.tensor([0.999, 0.3, 1e-4], dtype=torch.float64)
    a = gamma.sqrt().float().view(-1, 1, 1, 1)
    y = a * y0 + (1 - a * a).sqrt() * eps
    v = v_net.training_target(y0, eps, gamma)
    torch.testing.assert_close(v, a * eps - (1 - a * a).sqrt() * y0)
    torch.testing.assert_close(v_net.noise_from(v, y, gamma.sqrt().float()), eps, atol=1e-5, rtol=1e-5)
    assert eps_net.noise_from(v, y, gamma.sqrt().float()) is v
    with pytest.raises(ConfigError, match="prediction='x0' is not supported; valid: eps, v"):
        _net(prediction="x0")


def test_runner_refuses_a_schedule_outside_the_trained_range() -> None:
    # the seed's 64->256 settings: trained with T = 2000 (alpha_bar_T = 0.0060), sampled to 0.0056
    seedlike = _net(train_timesteps=2000, sample_steps=100, sample_betas=[1e-4, 0.1])
    runner = _runner(seedlike)
    with pytest.raises(ConfigError) as info:
        runner(torch.rand(1, 3, 4, 4), 2)
    message = str(info.value)
    assert "\n" not in message
    assert "[0.00561876, 0.9999]" in message and "[0.00604498, 1]" in message and "force=True" in message
    assert runner.configure(force=True)(torch.rand(1, 3, 4, 4), 2).shape == (1, 3, 8, 8)
    narrowed = _runner(seedlike, gamma_range=[0.01, 0.9999], steps=4)
    assert S.schedule_range(narrowed.gamma_schedule())[0] >= 0.01
    with pytest.raises(ConfigError, match=r"\[0.001, 0.99\] leaves the trained gamma range \[0.0777494, 1\]"):
        _runner(gamma_range=[0.001, 0.99])
    with pytest.raises(ConfigError, match="eta: only the ddim sampler takes eta"):
        _runner(eta=0.5)
    with pytest.raises(ConfigError, match="sampler: 'euler' is not supported"):
        _runner(sampler="euler")
    with pytest.raises(ConfigError, match="does not run in fp16"):
        A.make_runner(_net(), device="cpu", precision="fp16")


# --------------------------------------------------------------------------------------------------
# Step-synchronous tiling
# --------------------------------------------------------------------------------------------------


def _textured_net() -> SR3UNet:
    """A random sr3 network whose near-zero initialised layers are not near zero (so its prediction
    depends on the whole input, the attention included)."""
    net = _net(scale=2)
    with torch.no_grad():
        for p in net.parameters():
            torch.nn.init.normal_(p, 0.0, 0.2 / max(1, p[0].numel()) ** 0.5)
    return net


def test_blend_tiles_is_a_partition_of_unity_and_one_call_per_tile() -> None:
    x = torch.rand(2, 3, 37, 50, dtype=torch.float64)
    calls: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape[-2:]))
        return t * 2

    out = blend_tiles(fn, x, 16, 4, align=2)
    torch.testing.assert_close(out, (2 * x).float())  # the weights sum to 1 at every pixel
    assert len(calls) == len(tile_spans(37, 16, 4, 2)) * len(tile_spans(50, 16, 4, 2)) > 4
    assert all(h <= 16 and w <= 16 for h, w in calls)
    calls.clear()
    assert torch.equal(blend_tiles(fn, x, 64, 4), (2 * x).float()) and calls == [(37, 50)]


def test_step_tiling_with_a_covering_tile_is_the_untiled_sample() -> None:
    net, lr = _textured_net(), torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(2))
    whole = _runner(net)(lr, 2)
    covering = _runner(net)
    assert covering.step_tiles(12, 2) and covering.tiles == (12, 2)
    assert torch.equal(covering(lr, 2), whole)
    for sampler in ("ddim", "dpmpp_2m"):
        want = _runner(net, sampler=sampler, steps=3)(lr, 2)
        tiled = _runner(net, sampler=sampler, steps=3)
        tiled.step_tiles(16, 4)
        assert torch.equal(tiled(lr, 2), want), sampler


def test_step_tiling_calls_the_network_per_tile_per_step_and_does_not_seam() -> None:
    net, lr = _textured_net(), torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    whole = _runner(net)(lr, 2)
    shapes: list[tuple[int, ...]] = []
    hook = net.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[-2:])))
    stepped = _runner(net)
    stepped.step_tiles(10, 2)  # input pixels: 20-pixel tiles of the 32x32 upsampled image, 2x2 of them
    synced = stepped(lr, 2)
    hook.remove()
    steps = TINY["sample_steps"]
    assert len(shapes) == 4 * steps and all(max(s) <= 20 for s in shapes)
    # the old way: every tile sampled on its own (its own noise field) from the same seed
    independent = upscale_tiled(lambda t: _runner(net)(t, 2), lr, 2, tile=10, overlap=2, align=2)
    err_synced, err_independent = (synced - whole).abs().mean(), (independent - whole).abs().mean()
    assert float(err_synced) < 0.25 * float(err_independent), (err_synced, err_independent)
    with pytest.raises(ConfigError, match="tile overlap: 5 must be less than half the tile size"):
        stepped.step_tiles(10, 5)


def test_automatic_tiles_bound_the_attention_map() -> None:
    """The automatic tile stops where the largest self-attention reaches 64x64 tokens (its map grows with
    the square of the pixels), however much memory is free."""
    from srkit.infer.upscale import TileSize

    runner = _runner(_net(scale=2, channel_mults=[1, 2, 2], attn_depths=[-1]))  # attention at depth 2
    assert runner.net.first_attention_depth == 2 and runner.max_tile(2) == 64 * 4 // 2
    assert runner.max_tile(4) == 64
    with torch.device("meta"):
        seed = A.build_model("sr3-seed-64to256")
    assert seed.first_attention_depth == 4
    assert A.make_runner(_net(scale=2), device="cpu").max_tile(2) == 64 * 2 // 2  # TINY: depth 1
    assert TileSize(None).resolve(runner, 2) <= 128
    assert A.make_runner(A.build_model("edsr-baseline", scale=2), device="cpu").max_tile(2) is None


def test_upscale_samples_a_photo_larger_than_one_tile(tmp_path: Path) -> None:
    weights = A.save_weights(tmp_path / "sr3_x2.safetensors", _textured_net())
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(4)
    PILImage.fromarray(rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)).save(photo)

    def upscale(out: str, *extra: str) -> np.ndarray:
        args = ["upscale", str(photo), "--model", str(weights), "--steps", "2", "--seed", "0", "-o"]
        assert main([*args, str(tmp_path / out), *extra]) == 0
        with PILImage.open(tmp_path / out / "photo_x2.png") as im:
            return np.asarray(im)

    whole = upscale("whole", "--tile", "0")
    tiled = upscale("tiled", "--tile", "12", "--tile-overlap", "4")
    assert tiled.shape == whole.shape == (40, 52, 3)
    assert not np.array_equal(tiled, whole)  # really tiled
    assert np.abs(tiled.astype(int) - whole).mean() < 8  # and one sample, not four
    assert np.array_equal(tiled, upscale("again", "--tile", "12", "--tile-overlap", "4"))


def test_cli_sampler_names_match_the_samplers() -> None:
    assert SAMPLERS == S.SAMPLER_NAMES


# --------------------------------------------------------------------------------------------------
# The diffusion objective
# --------------------------------------------------------------------------------------------------


def _recipe(root: Path, steps: int, **over: Any) -> dict[str, Any]:
    raw = tiny_config(root, train={"steps": steps, "checkpoint_every": 2}, data={"val": {"datasets": []}})
    raw["model"] = {"arch": "sr3", "hparams": dict(TINY)}
    raw["objective"] = {"name": "diffusion", **over}
    return raw


@pytest.mark.parametrize(("target", "prediction"), [("image", "eps"), ("residual", "eps"), ("image", "v")])
def test_one_training_step_by_hand(tmp_path: Path, target: str, prediction: str) -> None:
    """The loss of a step is the hand-computed ``|f(join(y, lr), sqrt(gamma)) - eps|`` with the draws of the
    objective's own generator; ``y`` noises the HR image, or its residual over the upsampled LR."""
    raw_recipe = _recipe(tmp_path, 1, loss="l1")
    raw_recipe["model"]["hparams"].update(target=target, prediction=prediction)
    engine = Engine(build_config(raw_recipe), tmp_path / "run")
    raw = next(iter(engine._loader(0)))
    batch = engine._prepare(raw)
    objective = engine.objective
    gen_state = objective.generator.get_state()  # type: ignore[attr-defined]
    net = SR3UNet(**engine.raw_model.hparams)
    net.load_state_dict(engine.raw_model.state_dict())
    values = engine.train_step(raw)
    gen = torch.Generator().set_state(gen_state)
    hr, lr = batch["hr"] * 2 - 1, batch["lr"] * 2 - 1
    bars = S.train_alpha_bars(1e-4, 0.005, 1000)
    _, gamma = S.draw_training_gammas(bars, hr.shape[0], gen)
    eps = torch.randn(hr.shape, generator=gen)
    g = gamma.view(-1, 1, 1, 1)
    x0 = hr - lr if target == "residual" else hr
    y = g.sqrt().float() * x0 + (1 - g).sqrt().float() * eps
    with torch.no_grad():
        pred = net.train()(torch.cat([y, lr], dim=1), gamma.sqrt().float())
    want = eps if prediction == "eps" else g.sqrt().float() * eps - (1 - g).sqrt().float() * x0
    assert values["loss"] == pytest.approx(float((pred - want).abs().mean()), rel=1e-5)
    assert 0 < values["gamma_mean"] < 1


def test_diffusion_training_resumes_bit_for_bit(tmp_path: Path) -> None:
    full = train(build_config(_recipe(tmp_path, 4, blur={"prob": 0.5})), run_dir=tmp_path / "full")
    part = tmp_path / "part"
    train(build_config(_recipe(tmp_path, 2, blur={"prob": 0.5})), run_dir=part)
    mid = load_state(part / "state.pt")["objective"]["generators"]
    resumed = train(
        build_config(_recipe(tmp_path, 4, blur={"prob": 0.5})), run_dir=part, resume=part / "state.pt"
    )
    assert_same_tensors(load_weights(full.weights), load_weights(resumed.weights))
    end = load_state(part / "state.pt")["objective"]["generators"]
    assert len(end) == 1 and not torch.equal(mid[0], end[0])  # the generator moved and was saved


def test_bf16_ema_training_exports_the_trained_range(tmp_path: Path) -> None:
    _, val_dir = tiny_data(tmp_path)
    raw = _recipe(tmp_path, 2)
    raw["train"].update(precision="bf16", ema_decay=0.9, device="cpu")
    raw["data"]["val"] = {"datasets": [str(val_dir)], "every": 2, "center_crop": 16}
    result = train(build_config(raw), run_dir=tmp_path / "run")
    assert np.isfinite(result.val["val"]["psnr"])
    _, meta = read_weights(result.weights)
    assert meta.extra["ema"] is True and meta.extra["objective"] == "diffusion"
    net = A.load_network(result.weights)
    assert isinstance(net, SR3UNet)
    assert net.trained_gamma_range() == (pytest.approx(0.0777494, rel=1e-5), 1.0)
    assert {"train_beta_start", "train_beta_end", "train_timesteps", "sample_steps"} <= set(meta.hparams)


def test_tiny_recipe_trains(tmp_path: Path) -> None:
    train_dir, val_dir = tiny_data(tmp_path)
    overrides = [f"data.train.hr=[{train_dir}]", f"data.val.datasets=[{val_dir}]", "data.train.patch_size=8",
                 "data.train.batch_size=2", "data.val.center_crop=32", "train.steps=2", "train.threads=1",
                 "model.hparams.sample_steps=2", "logging.progress=false",
                 "logging.tensorboard=false"]  # fmt: skip
    config = load_config(CONFIGS / "tiny" / "sr3_x4.yaml", overrides)
    result = train(config, run_dir=tmp_path / "run")
    net = A.load_network(result.weights)
    assert net.hparams["emb_base"] == 5000.0 and net.hparams["sample_betas"] is None
    assert np.isfinite(result.val["val"]["psnr"])


def test_objective_config_and_network_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"objective\.blur\.kernel_size: must be odd"):
        build_config(_recipe(tmp_path, 1, blur={"kernel_size": 4}))
    with pytest.raises(ConfigError, match=r"objective\.loss: Input should be 'l1' or 'l2'"):
        build_config(_recipe(tmp_path, 1, loss="mse"))
    edsr = tiny_config(tmp_path, train={"steps": 1})
    edsr["objective"] = {"name": "diffusion"}
    with pytest.raises(ConfigError, match="diffusion trains sr3 networks"):
        train(build_config(edsr), run_dir=tmp_path / "edsr")
    odd = _recipe(tmp_path, 1)
    odd["model"]["hparams"]["channel_mults"] = [1, 2, 2, 2, 2]  # size multiple 16; HR patches 24
    with pytest.raises(ConfigError, match=r"data\.train\.patch_size: HR patches of 24 pixels"):
        train(build_config(odd), run_dir=tmp_path / "odd")
    seedlike = _recipe(tmp_path, 1)
    seedlike["model"]["hparams"].update(sample_betas=[1e-4, 0.1], sample_steps=100)
    with pytest.raises(ConfigError, match=r"model\.hparams: the sampling schedule"):
        train(build_config(seedlike), run_dir=tmp_path / "seedlike")


def test_blur_augmentation() -> None:
    k = gaussian_kernels(torch.tensor([0.5, 2.0]), 5)
    torch.testing.assert_close(k.sum(dim=1), torch.ones(2))
    assert float(k[0, 2]) > float(k[1, 2])  # the narrow one peaks higher
    x = torch.rand(2, 3, 9, 9)
    out = blur_batch(x, torch.tensor([1e-3, 1.5]), 5)
    torch.testing.assert_close(out[0], x[0])  # a tiny sigma changes nothing
    assert float(out[1].std()) < float(x[1].std())


# --------------------------------------------------------------------------------------------------
# The seed's checkpoints
# --------------------------------------------------------------------------------------------------


def _to_seed_unet(net: SR3UNet) -> dict[str, torch.Tensor]:
    """srkit keys -> novwaul/SR3's UNet keys (the inverse of the layout's renaming)."""
    out: dict[str, torch.Tensor] = {}
    rules = [
        (r"^noise_embed\.linear(\d)\.", r"emb.linear\1.linear."),
        (r"^conv_in\.", "conv1.conv."),
        (r"^norm_out\.", "gn.group_norm."),
        (r"^conv_out\.", "conv2.conv."),
        (r"\.norm(\d)\.", r".gn\1.group_norm."),
        (r"\.conv(\d)\.", r".conv\1.conv."),
        (r"\.emb_proj\.", ".linear1.linear."),
        (r"\.skip\.", ".linear2.linear."),
        (r"\.attn\.norm\.", ".att.gn.group_norm."),
        (r"\.attn\.(qkv|proj)\.", r".att.\1.linear."),
        (r"^((?:down|up)\.\d+)\.conv\.", r"\1.conv.conv."),
    ]
    import re

    for key, value in net.state_dict().items():
        for pattern, repl in rules:
            if re.search(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value.reshape(value.shape[:2]) if ".linear." in key and value.dim() == 4 else value
    half = net.hparams["base_channels"] // 2
    out["emb.x"] = torch.exp(torch.arange(half) * -(torch.log(torch.tensor(5000.0)) / (half - 1)))[None]
    return out


def test_seed_checkpoints_convert_with_identical_outputs(tmp_path: Path) -> None:
    net = _net(scale=4, channel_mults=[1, 2, 2], attn_depths=[1], emb_base=5000.0, emb_scale=1.0)
    for p in net.parameters():  # non-trivial weights everywhere (near-zero initialised layers included)
        torch.nn.init.normal_(p, 0.0, 0.2)
    unet = _to_seed_unet(net)
    wrapped = {f"model.{k}": v for k, v in unet.items()}
    wrapped["alphas_bar"] = torch.cumprod(1 - torch.linspace(1e-4, 0.005, 2000), 0)
    wrapped["sample_alphas_bar"] = torch.cumprod(1 - torch.linspace(1e-6, 0.05, 100), 0)
    torch.save({"net": wrapped, "ema_net": wrapped, "epoch": 3}, tmp_path / "last.pt")
    torch.save(unet, tmp_path / "unet.pth")
    x, level = torch.randn(2, 6, 8, 12), torch.tensor([0.2, 0.9])
    with torch.no_grad():
        want = net(x, level)
    for name in ("last.pt", "unet.pth"):
        loaded = A.load_network(tmp_path / name)
        assert isinstance(loaded, SR3UNet)
        hp = loaded.hparams
        assert (hp["channel_mults"], hp["attn_depths"], hp["num_res_blocks"]) == ([1, 2, 2], [1], 1)
        assert (hp["emb_base"], hp["emb_scale"], hp["train_timesteps"], hp["train_beta_end"]) == (
            5000.0,
            1.0,
            2000,
            0.005,
        )
        with torch.no_grad():
            assert torch.equal(loaded(x, level), want), name
    assert A.load_network(tmp_path / "last.pt").hparams["sample_betas"] == [1e-6, 0.05]
    assert A.load_network(tmp_path / "unet.pth").hparams["sample_betas"] == [1e-4, 0.1]


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------


def _photo(path: Path) -> Path:
    rng = np.random.default_rng(0)
    PILImage.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(path)
    return path


def test_upscale_and_eval_take_steps_sampler_and_seed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = A.save_weights(tmp_path / "sr3_x4.safetensors", _net(scale=4))
    photo = _photo(tmp_path / "photo.png")

    def upscale(out: str, *extra: str) -> np.ndarray:
        assert main(["upscale", str(photo), "--model", str(weights), "-o", str(tmp_path / out), *extra]) == 0
        with PILImage.open(tmp_path / out / "photo_x4.png") as im:
            return np.asarray(im)

    a = upscale("a", "--steps", "2", "--seed", "0")  # no --scale: the model's x4
    assert a.shape == (36, 44, 3)
    assert np.array_equal(a, upscale("b", "--steps", "2", "--seed", "0", "--tile", "0"))
    assert not np.array_equal(a, upscale("c", "--steps", "2", "--seed", "1"))
    assert upscale("d", "--sampler", "ddim", "--steps", "2").shape == a.shape
    capsys.readouterr()
    assert main(["upscale", str(photo), "--model", "bicubic", "--steps", "2", "-o", str(tmp_path / "e")]) == 2
    assert "--steps: only iterative models (sr3) sample" in capsys.readouterr().err
    _, val = tiny_data(tmp_path)
    assert main(["eval", "--model", str(weights), "bicubic", "--dataset", str(val), "--scale", "4",
                 "--steps", "2", "--out", str(tmp_path / "ev"), "--no-progress"]) == 0  # fmt: skip
