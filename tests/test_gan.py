"""ESRGAN as a training objective: the VGG feature extractor (torchvision layout, layer names, weights),
the perceptual and adversarial losses, the VGG-style discriminator, the ``gan`` objective through the
real engine (two steps, exact resume) and its recipes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from srkit.archs.discriminator import DISCRIMINATORS, VGG128_CHANNELS, VGGStyleDiscriminator
from srkit.archs.vgg import (
    VGG_CONFIGS,
    VGG_EXTRACTORS,
    VGGFeatureExtractor,
    default_weights_path,
    layer_indices,
    layer_names,
    weights_url,
)
from srkit.errors import ConfigError, SrkitError
from srkit.losses import PerceptualLoss
from srkit.losses.gan import (
    discriminator_fake_loss,
    discriminator_loss,
    discriminator_real_loss,
    generator_loss,
)
from srkit.train.config import build_config, load_config
from srkit.train.engine import Engine
from srkit.train.objectives import OBJECTIVES
from srkit.train.objectives.gan import GANObjective, GANObjectiveConfig
from srkit.train.state import load_state
from test_train_support import assert_same_tensors, merge, tiny_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# --------------------------------------------------------------------------------------------------
# VGG feature extractor
# --------------------------------------------------------------------------------------------------


def test_layer_names_map_to_torchvision_feature_indices() -> None:
    vgg19 = layer_indices("vgg19")
    assert (vgg19["conv1_1"], vgg19["relu1_1"], vgg19["pool1"], vgg19["conv2_1"]) == (0, 1, 4, 5)
    assert (vgg19["conv5_4"], vgg19["relu5_4"], vgg19["pool5"]) == (34, 35, 36)
    assert (vgg19["conv4_4"], vgg19["relu4_4"], vgg19["pool4"]) == (25, 26, 27)
    vgg16 = layer_indices("vgg16")
    # LPIPS's VGG16 slices end at features 3, 8, 15, 22, 29
    assert [vgg16[n] for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")] == [3, 8, 15, 22, 29]
    assert (vgg16["conv4_3"], vgg16["conv5_3"], vgg16["pool5"]) == (21, 28, 30)
    assert layer_indices("vgg11")["conv5_2"] == 18
    assert layer_indices("vgg19_bn")["conv5_4"] == 49 and layer_indices("vgg19_bn")["relu5_4"] == 51
    # as many modules as torchvision's features Sequential
    lengths = {"vgg11": 21, "vgg13": 25, "vgg16": 31, "vgg19": 37, "vgg16_bn": 44, "vgg19_bn": 53}
    assert {t: len(layer_names(t)) for t in lengths} == lengths
    assert set(VGG_EXTRACTORS) >= set(VGG_CONFIGS)
    with pytest.raises(ConfigError, match="unknown VGG 'vgg18'"):
        layer_names("vgg18")


def _torchvision_state(vgg_type: str, prefix: str = "features.", classifier: bool = False) -> dict:
    """Random tensors with the shapes of torchvision's ``vgg_type`` state dict (``prefix`` + index)."""
    state: dict[str, torch.Tensor] = {}
    channels, index = 3, 0
    for value in VGG_CONFIGS[vgg_type]:
        if value == "M":
            index += 1
            continue
        state[f"{prefix}{index}.weight"] = torch.randn(int(value), channels, 3, 3)
        state[f"{prefix}{index}.bias"] = torch.randn(int(value))
        channels, index = int(value), index + 2
    if classifier:  # ignored when loading (small stand-ins for the 4096-wide layers)
        state["classifier.0.weight"] = torch.randn(4, 8)
        state["classifier.6.bias"] = torch.randn(4)
    return state


def test_torchvision_layout_state_dict_loads_by_index(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = _torchvision_state("vgg16", classifier=True)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    lpips_layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
    net = VGGFeatureExtractor(lpips_layers, vgg_type="vgg16", use_input_norm=False, weights=path)
    assert torch.equal(net.features[21].weight, state["features.21.weight"])  # conv4_3
    assert torch.equal(net.features[28].bias, state["features.28.bias"])  # conv5_3
    assert len(net.features) == 30  # up to relu5_3, nothing deeper
    out = net(torch.rand(1, 3, 32, 32))
    assert list(out) == lpips_layers and out["relu5_3"].shape == (1, 512, 2, 2)

    # the same keys with a vgg. prefix or none, as safetensors; a file of another VGG is refused
    small = _torchvision_state("vgg11")
    for prefix in ("vgg.", ""):
        renamed = {prefix + k.removeprefix("features."): v for k, v in small.items()}
        file = tmp_path / f"vgg11{prefix or 'plain'}.safetensors"
        save_file(renamed, str(file))
        net11 = VGGFeatureExtractor(["conv5_2"], vgg_type="vgg11", weights=file)
        assert torch.equal(net11.features[18].weight, small["features.18.weight"])
    with pytest.raises(SrkitError, match=r"not vgg19 weights: missing features\.\d+"):
        VGGFeatureExtractor(["conv5_4"], vgg_type="vgg19", weights=path)


def test_missing_weight_file_names_the_path_and_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "weights" / "vgg19-dcbb9e9d.pth"
    assert default_weights_path("vgg19") == expected
    with pytest.raises(SrkitError) as info:
        VGGFeatureExtractor(["conv5_4"])
    message = str(info.value)
    assert message.startswith(f"{expected}: vgg19 ImageNet weights not found")
    assert weights_url("vgg19") == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert weights_url("vgg19") in message and "\n" not in message
    with pytest.raises(SrkitError, match=r"nowhere\.pth: vgg16 ImageNet weights not found"):
        VGGFeatureExtractor(["relu1_2"], vgg_type="vgg16", weights=tmp_path / "nowhere.pth")


def test_pre_activation_features_keep_their_negative_values() -> None:
    torch.manual_seed(0)
    net = VGGFeatureExtractor(["conv2_2", "relu2_2", "conv1_1"], weights=None)
    assert len(net.features) == 9  # runs only up to relu2_2
    out = net(torch.rand(2, 3, 16, 16))
    assert list(out) == ["conv2_2", "relu2_2", "conv1_1"]
    assert (out["conv2_2"] < 0).any() and (out["relu2_2"] >= 0).all()
    assert torch.equal(torch.relu(out["conv2_2"]), out["relu2_2"])  # not overwritten by an in-place ReLU
    # frozen, always in eval mode, normalisation buffers not saved
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.train().training
    assert set(net.state_dict()) == {f"features.{i}.{k}" for i in (0, 2, 5, 7) for k in ("weight", "bias")}
    with pytest.raises(ConfigError, match="vgg19 has no layer 'conv6_1'"):
        VGGFeatureExtractor(["conv6_1"], weights=None)


# --------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_relativistic_average_losses_match_a_hand_computation() -> None:
    real = torch.tensor([[1.0], [2.0]])
    fake = torch.tensor([[0.5], [-1.0]], requires_grad=True)
    mean_r, mean_f = 1.5, -0.25
    # -log(sigmoid(x)) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    d_real = 0.5 * (_softplus(-(1.0 - mean_f)) + _softplus(-(2.0 - mean_f))) / 2
    d_fake = 0.5 * (_softplus(0.5 - mean_r) + _softplus(-1.0 - mean_r)) / 2
    g = 0.5 * (
        (_softplus(1.0 - mean_f) + _softplus(2.0 - mean_f)) / 2
        + (_softplus(-(0.5 - mean_r)) + _softplus(-(-1.0 - mean_r))) / 2
    )
    assert float(discriminator_real_loss("ragan", real, fake)) == pytest.approx(d_real, rel=1e-6)
    assert float(discriminator_fake_loss("ragan", fake.detach(), real)) == pytest.approx(d_fake, rel=1e-6)
    pair = discriminator_loss("ragan", real, fake.detach())
    assert float(pair[0]) == pytest.approx(d_real, rel=1e-6) and float(pair[1]) == pytest.approx(d_fake)
    real_g = real.clone().requires_grad_(True)
    loss = generator_loss("ragan", fake, real_g)
    assert float(loss.detach()) == pytest.approx(g, rel=1e-6) and loss.dtype == torch.float32
    loss.backward()
    assert real_g.grad is None and fake.grad is not None  # the real logits are a constant
    # the relativistic mean of the other batch is a constant for the discriminator too
    real_d = real.clone().requires_grad_(True)
    fake_d = fake.detach().clone().requires_grad_(True)
    discriminator_fake_loss("ragan", fake_d, real_d).backward()
    assert real_d.grad is None and fake_d.grad is not None
    with pytest.raises(ValueError, match="needs the real logits"):
        generator_loss("ragan", fake)


def test_other_gan_losses() -> None:
    real = torch.tensor([2.0, -0.5]).to(torch.bfloat16)
    fake = torch.tensor([0.5, -2.0])
    assert float(discriminator_real_loss("vanilla", real)) == pytest.approx(
        (_softplus(-2.0) + _softplus(0.5)) / 2, rel=1e-6
    )
    assert float(discriminator_fake_loss("vanilla", fake)) == pytest.approx(
        (_softplus(0.5) + _softplus(-2.0)) / 2, rel=1e-6
    )
    assert float(generator_loss("vanilla", fake)) == pytest.approx(
        (_softplus(-0.5) + _softplus(2.0)) / 2, rel=1e-6
    )
    assert float(discriminator_real_loss("hinge", real)) == pytest.approx((0 + 1.5) / 2)
    assert float(discriminator_fake_loss("hinge", fake)) == pytest.approx((1.5 + 0) / 2)
    assert float(generator_loss("hinge", fake)) == pytest.approx(0.75)
    assert float(discriminator_real_loss("lsgan", real)) == pytest.approx((1 + 2.25) / 2)
    assert float(discriminator_fake_loss("lsgan", fake)) == pytest.approx((0.25 + 4) / 2)
    assert float(generator_loss("lsgan", fake)) == pytest.approx((0.25 + 9) / 2)
    assert discriminator_real_loss("vanilla", real).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown GAN loss 'wgan'"):
        generator_loss("wgan", fake)


def test_perceptual_loss() -> None:
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 16, 16)
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    l1 = PerceptualLoss({"conv2_1": 1.0, "relu1_1": 0.5}, vgg_type="vgg11", weights=None)
    assert float(l1(hr, hr)) == 0.0
    value = l1(sr, hr)
    assert value.dtype == torch.float32 and float(value.detach()) > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in l1.parameters())

    # l1 / l2 / fro on the same features, weights and normalisation
    feats = l1.vgg
    with torch.no_grad():
        fs, fh = feats(sr), feats(hr)
        diff = {k: fs[k] - fh[k] for k in fs}
        want_l1 = diff["conv2_1"].abs().mean() + 0.5 * diff["relu1_1"].abs().mean()
        want_l2 = diff["conv2_1"].square().mean() + 0.5 * diff["relu1_1"].square().mean()
        want_fro = diff["conv2_1"].norm() + 0.5 * diff["relu1_1"].norm()
        assert float(l1(sr, hr)) == pytest.approx(float(want_l1), rel=1e-5)
        for criterion, want in (("l2", want_l2), ("fro", want_fro)):
            other = PerceptualLoss(
                {"conv2_1": 1.0, "relu1_1": 0.5}, vgg_type="vgg11", criterion=criterion, weights=None
            )
            other.vgg.load_state_dict(feats.state_dict())
            assert float(other(sr, hr)) == pytest.approx(float(want), rel=1e-5)
        scaled = PerceptualLoss(
            {"conv2_1": 1.0, "relu1_1": 0.5},
            vgg_type="vgg11",
            perceptual_weight=2.0,
            normalize_loss=True,
            weights=None,
        )
        scaled.vgg.load_state_dict(feats.state_dict())
        assert float(scaled(sr, hr)) == pytest.approx(float(want_l1) * 2.0 / 1.5, rel=1e-5)
    with pytest.raises(ConfigError, match="unknown perceptual criterion 'l3'"):
        PerceptualLoss(criterion="l3", weights=None)


# --------------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------------

#: BasicSR's VGGStyleDiscriminator(num_in_ch=3, num_feat=64, input_size=128): parameter names and shapes.
BASICSR_VGG128 = {
    "conv0_0.weight": (64, 3, 3, 3),
    "conv0_0.bias": (64,),
    "conv0_1.weight": (64, 64, 4, 4),
    "bn0_1.weight": (64,),
    "conv1_0.weight": (128, 64, 3, 3),
    "bn1_0.weight": (128,),
    "conv1_1.weight": (128, 128, 4, 4),
    "bn1_1.weight": (128,),
    "conv2_0.weight": (256, 128, 3, 3),
    "conv2_1.weight": (256, 256, 4, 4),
    "conv3_0.weight": (512, 256, 3, 3),
    "conv3_1.weight": (512, 512, 4, 4),
    "conv4_0.weight": (512, 512, 3, 3),
    "conv4_1.weight": (512, 512, 4, 4),
    "bn4_1.running_var": (512,),
    "linear1.weight": (100, 8192),
    "linear1.bias": (100,),
    "linear2.weight": (1, 100),
    "linear2.bias": (1,),
}


def test_discriminator_has_basicsr_keys_and_takes_128_and_192() -> None:
    torch.manual_seed(0)
    net = DISCRIMINATORS["vgg_style"]()
    state = net.state_dict()
    for key, shape in BASICSR_VGG128.items():
        assert tuple(state[key].shape) == shape, key
    convs = [f"conv{i}_{j}" for i in range(5) for j in range(2)]
    bns = [f"bn{i}_{j}" for i in range(5) for j in range(2) if (i, j) != (0, 0)]
    stems = {k.rsplit(".", 1)[0] for k in state}
    assert stems == {*convs, *bns, "linear1", "linear2"}
    assert "conv1_0.bias" not in state and "bn0_0.weight" not in state
    assert tuple(VGG128_CHANNELS) == (64, 64, 128, 128, 256, 256, 512, 512, 512, 512)
    assert net(torch.rand(2, 3, 128, 128)).shape == (2, 1)

    wide = VGGStyleDiscriminator(input_size=192)
    assert wide.linear1.in_features == 512 * 6 * 6
    assert wide(torch.rand(2, 3, 192, 192)).shape == (2, 1)
    small = VGGStyleDiscriminator(vgg_blk_ch=[8, 8, 16, 16], fc_features=[16, 8], input_size=24)
    assert small(torch.rand(3, 3, 24, 24)).shape == (3, 1) and small.linear3.out_features == 1
    with pytest.raises(ValueError, match="must be 24x24"):
        small(torch.rand(3, 3, 32, 32))
    with pytest.raises(ConfigError, match="even number of widths"):
        VGGStyleDiscriminator(vgg_blk_ch=[8, 8, 16])
    with pytest.raises(ConfigError, match="input_size=8 is too small"):
        VGGStyleDiscriminator(vgg_blk_ch=[8, 8, 8, 8, 8, 8, 8, 8], input_size=8)


# --------------------------------------------------------------------------------------------------
# The objective through the engine
# --------------------------------------------------------------------------------------------------


def _gan_config(root: Path, **over: Any) -> dict[str, Any]:
    """A tiny GAN recipe: RRDBNet x2 (8 channels, 1 block), HR patches 24, a small discriminator, a
    random VGG19 up to conv3_1, no validation."""
    objective = {
        "name": "gan",
        "perceptual": {"layer_weights": {"conv3_1": 1.0}, "weights": None},
        "discriminator": {"vgg_blk_ch": [8, 8, 16, 16], "fc_features": [16]},
        "d_optim": {"lr": 1e-3},
    }
    base = {
        "model": {"arch": "rrdbnet", "hparams": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}},
        "data": {"val": {"datasets": []}},
        "train": {"steps": 2, "log_every": 1, "checkpoint_every": 2},
    }
    data = tiny_config(root, **merge(base, {k: v for k, v in over.items() if k != "objective"}))
    data["objective"] = merge(objective, over.get("objective", {}))
    return data


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_two_gan_steps_update_both_networks(tmp_path: Path) -> None:
    config = build_config(_gan_config(tmp_path, train={"precision": "bf16", "channels_last": True}))
    assert OBJECTIVES["gan"].objective is GANObjective and OBJECTIVES["gan"].config is GANObjectiveConfig
    engine = Engine(config, tmp_path / "run")
    objective = engine.objective
    assert isinstance(objective, GANObjective) and objective.raw_net_d.input_size == 24
    g0, d0 = _tensors(engine.raw_model), _tensors(objective.raw_net_d)
    engine.fit()
    records = [r for r in _read_log(tmp_path / "run") if r["kind"] == "train"]
    keys = ("loss", "l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake")
    assert len(records) == 2
    for record in records:
        assert all(math.isfinite(record[k]) for k in (*keys, "lr", "lr_d"))
        assert record["loss"] == pytest.approx(record["l_g_pix"] + record["l_g_percep"] + record["l_g_gan"])
        assert record["lr_d"] == pytest.approx(1e-3) and record["lr"] == pytest.approx(2e-3)
    g1, d1 = _tensors(engine.raw_model), _tensors(objective.raw_net_d)
    assert not torch.equal(g0["conv_first.weight"], g1["conv_first.weight"])
    assert not torch.equal(d0["conv0_0.weight"], d1["conv0_0.weight"])
    assert not torch.equal(d0["linear2.weight"], d1["linear2.weight"])
    assert all(p.requires_grad for p in objective.raw_net_d.parameters())


def _read_log(run: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run / "log.jsonl").read_text("utf-8").splitlines()]


def test_resume_carries_the_discriminator_and_both_optimisers(tmp_path: Path) -> None:
    config = build_config(_gan_config(tmp_path, objective={"gan_type": "vanilla", "net_d_init_iters": 1}))
    first = Engine(config, tmp_path / "a")
    first.fit()
    state = load_state(tmp_path / "a" / "state.pt")
    assert set(state["objective"]) == {"net_d", "optimizer_g", "scheduler_g", "optimizer_d", "scheduler_d"}

    fresh = Engine(config, tmp_path / "b")
    assert not torch.equal(fresh.raw_model.conv_first.weight, first.raw_model.conv_first.weight)
    fresh.load_state_dict(state)
    assert fresh.step == 2
    assert_same_tensors(_tensors(fresh.objective.raw_net_d), _tensors(first.objective.raw_net_d))
    assert_same_tensors(_tensors(fresh.raw_model), _tensors(first.raw_model))
    for name in ("optimizer_g", "optimizer_d"):
        a, b = getattr(first.objective, name).state_dict(), getattr(fresh.objective, name).state_dict()
        assert a["param_groups"] == b["param_groups"]
        assert a["state"].keys() == b["state"].keys() and len(a["state"]) > 0
        for key in a["state"]:
            assert_same_tensors(a["state"][key], b["state"][key])
    assert fresh.objective.scheduler_d.last_epoch == first.objective.scheduler_d.last_epoch == 2
    assert fresh.objective.learning_rates() == first.objective.learning_rates()
    # net_d_init_iters=1: the generator was updated at step 2 only, the discriminator at both
    assert int(state["objective"]["optimizer_g"]["state"][0]["step"]) == 1
    assert int(state["objective"]["optimizer_d"]["state"][0]["step"]) == 2


def test_setup_errors_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    config = build_config(_gan_config(tmp_path, objective={"perceptual": {"weights": "default"}}))
    with pytest.raises(ConfigError) as info:
        Engine(config, tmp_path / "run")
    expected = tmp_path / "cache" / "weights" / "vgg19-dcbb9e9d.pth"
    assert str(info.value).startswith(f"objective.perceptual.weights: {expected}: vgg19 ImageNet weights")
    config = build_config(_gan_config(tmp_path, objective={"discriminator": {"input_size": 32}}))
    with pytest.raises(ConfigError, match=r"^objective\.discriminator\.input_size: 32 differs from the HR"):
        Engine(config, tmp_path / "run")


def test_gan_config_validation_names_dotted_keys(tmp_path: Path) -> None:
    cases = [
        (
            {"discriminator": {"vgg_blk_ch": [8, 8, 16]}},
            r"objective\.discriminator\.vgg_blk_ch: needs an even",
        ),
        ({"perceptual": {"layer_weights": {"conv9_1": 1.0}}}, r"objective\.perceptual\.layer_weights: vgg19"),
        ({"gan_type": "wgan"}, r"objective\.gan_type: Input should be"),
        ({"d_optim": {"lr": 0}}, r"objective\.d_optim\.lr: Input should be greater than 0"),
        ({"net_d_iters": 0}, r"objective\.net_d_iters: Input should be greater than 0"),
    ]
    for over, pattern in cases:
        with pytest.raises(ConfigError, match=pattern):
            build_config(_gan_config(tmp_path, objective=over))
    defaults = GANObjectiveConfig()
    assert (defaults.gan_type, defaults.gan_weight, defaults.pixel_weight, defaults.perceptual_weight) == (
        "ragan",
        0.005,
        0.01,
        1.0,
    )
    assert (defaults.d_optim.lr, defaults.d_optim.betas) == (1e-4, (0.9, 0.99))
    assert defaults.d_schedule.milestones == [50_000, 100_000, 200_000, 300_000]


def test_esrgan_recipes_match_the_paper() -> None:
    pre = load_config(CONFIGS / "esrgan_x4_pretrain.yaml")
    rrdb = load_config(CONFIGS / "rrdb_psnr_x4.yaml")
    assert pre.model_copy(update={"name": rrdb.name, "description": rrdb.description}) == rrdb
    gan = load_config(CONFIGS / "esrgan_x4.yaml")
    assert (gan.scale, gan.model.arch, gan.model.hparams) == (4, "rrdbnet", {})
    assert gan.model.init == "runs/esrgan_x4_pretrain/model.safetensors"
    assert gan.data.train.patch_size * gan.scale == 128 and gan.data.train.batch_size == 16
    obj = gan.objective
    assert (obj.name, obj.gan_type, obj.gan_weight, obj.pixel_type, obj.pixel_weight) == (
        "gan",
        "ragan",
        0.005,
        "l1",
        0.01,
    )
    assert obj.perceptual.layer_weights == {"conv5_4": 1.0} and obj.perceptual.vgg_type == "vgg19"
    assert obj.perceptual_weight == 1.0 and obj.perceptual.weights == "default"
    assert obj.discriminator.vgg_blk_ch == list(VGG128_CHANNELS) and obj.discriminator.fc_features == [100]
    for optim, schedule in ((gan.optim, gan.schedule), (obj.d_optim, obj.d_schedule)):
        assert (optim.type, optim.lr, optim.betas) == ("adam", 1e-4, (0.9, 0.99))
        assert (schedule.type, schedule.milestones, schedule.gamma) == (
            "multistep",
            [50_000, 100_000, 200_000, 300_000],
            0.5,
        )
    assert (gan.train.steps, gan.train.ema_decay) == (400_000, 0.999)
    tiny = load_config(CONFIGS / "tiny" / "esrgan_x4.yaml")
    assert tiny.model.init == "runs/esrgan_x4_pretrain_tiny/model.safetensors"
    assert tiny.model.hparams == load_config(CONFIGS / "tiny" / "esrgan_x4_pretrain.yaml").model.hparams


def test_gan_weight_zero_trains_the_content_losses_without_a_discriminator(tmp_path: Path) -> None:
    # SRGAN's SRResNet-VGG54: perceptual (+ pixel) loss only, no discriminator built, trained or saved
    config = build_config(_gan_config(tmp_path, objective={"gan_weight": 0.0}))
    engine = Engine(config, tmp_path / "run")
    objective = engine.objective
    assert objective.raw_net_d is None and objective.optimizer_d is None
    g0 = _tensors(engine.raw_model)
    engine.fit()
    records = [r for r in _read_log(tmp_path / "run") if r["kind"] == "train"]
    assert records and all("l_d_real" not in r and "lr_d" not in r and "l_g_gan" not in r for r in records)
    for record in records:
        assert record["loss"] == pytest.approx(record["l_g_pix"] + record["l_g_percep"])
        assert record["l_g_percep"] > 0
    assert not torch.equal(g0["conv_first.weight"], _tensors(engine.raw_model)["conv_first.weight"])
    state = load_state(tmp_path / "run" / "state.pt")
    assert set(state["objective"]) == {"optimizer_g", "scheduler_g"}
    with_d = Engine(build_config(_gan_config(tmp_path)), tmp_path / "other")
    with pytest.raises(ConfigError, match=r"objective\.gan_weight"):
        with_d.objective.load_state_dict(state["objective"])
