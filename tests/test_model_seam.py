"""The model seam: the network contract (NetInfo, captured hyper-parameters), the registry filled by
registration, the one runner, and a toy architecture from outside ``src/`` that trains, evaluates,
upscales (tiled), exports to ONNX and converts from a checkpoint layout of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image as PILImage
from torch import nn

import srkit.archs as A
from srkit.archs import NetInfo, SRNet, register_arch, unregister_arch
from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, shape
from srkit.cli import main
from srkit.errors import ConfigError
from srkit.io.checkpoint import read_weights
from srkit.train.config import build_config, load_config
from srkit.train.engine import train
from test_train_support import tiny_config, tiny_data

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

#: A few-second setting of every registered architecture (a new family must add one here).
TINY: dict[str, dict[str, Any]] = {
    "edsr": {"num_feat": 8, "num_block": 1},
    "srresnet": {"num_feat": 8, "num_blocks": 1},
    "msrresnet": {"num_feat": 8, "num_block": 1},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "fsrcnn": {"d": 8, "s": 4, "m": 1},
    "vdsr": {"num_feat": 8, "num_layers": 3},
    "davit_sr": {"dim": 8, "num_pairs": 1, "num_heads": 2, "window_size": 2},
    "swinir": {
        "embed_dim": 8,
        "depths": [2],
        "num_heads": [2],
        "window_size": 4,
        "upsampler": "pixelshuffledirect",
    },
    "hat": {
        "embed_dim": 8,
        "depths": [2],
        "num_heads": [2],
        "window_size": 4,
        "compress_ratio": 2,
        "squeeze_factor": 4,
    },
    "sr3": {
        "base_channels": 8,
        "channel_mults": [1, 2],
        "num_res_blocks": 1,
        "attn_depths": [-1],
        "emb_mult": 2,
        "sample_steps": 2,
    },
    "rlfn": {"num_feat": 8, "num_block": 1, "esa_channels": 4},
    "rfdn": {"num_feat": 8, "num_block": 1},
    "bsrn": {"num_feat": 16, "num_block": 1},
    "imdn": {"num_feat": 16, "num_block": 1},
    "imdn_kair": {"num_feat": 8, "num_block": 1},
    "srvgg_compact": {"num_feat": 8, "num_conv": 1},
    "span": {"feature_channels": 8, "num_block": 1},
    "pan": {"num_feat": 8, "num_up_feat": 4, "num_block": 1},
    "carn_m": {"num_feat": 8, "group": 2},
    "lapsrn": {"num_feat": 8, "depth": 1},
}

#: The objective an architecture trains with when it is not the recipe's ``pixel`` (iterative networks).
OBJECTIVE: dict[str, dict[str, Any]] = {"sr3": {"name": "diffusion"}}


def _recipe(root: Path, arch: str, hparams: dict[str, Any], steps: int) -> dict[str, Any]:
    """:func:`tiny_config` with the model replaced (not merged) and validation every other step."""
    raw = tiny_config(root, train={"steps": steps})
    raw["model"] = {"arch": arch, "hparams": hparams}
    if arch in OBJECTIVE:
        raw["objective"] = OBJECTIVE[arch]
    raw["data"]["val"]["every"] = 2
    return raw


def _cli(*args: str) -> None:
    assert main(list(args)) == 0, f"srkit {' '.join(args)} failed"


def _rgb(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[1] // 4 + 2, size[0] // 4 + 2, 3), dtype=np.uint8)
    PILImage.fromarray(coarse).resize(size, PILImage.BICUBIC).save(path)
    return path


# --------------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------------


def test_every_registered_architecture_has_a_tiny_setting() -> None:
    assert set(TINY) == set(A.ARCHS)


def test_hyper_parameters_are_captured_from_the_signature_with_defaults() -> None:
    net = A.EDSR(3, 3, 8, 1, 2)  # positional arguments bound by name
    assert net.hparams == {
        "in_channels": 3,
        "out_channels": 3,
        "num_feat": 8,
        "num_block": 1,
        "scale": 2,
        "res_scale": 1.0,
        "img_range": 255.0,
        "rgb_mean": [0.4488, 0.4371, 0.404],
    }
    rebuilt = A.build_from_spec(A.model_spec(net))
    assert rebuilt.hparams == net.hparams and type(rebuilt) is A.EDSR
    with pytest.raises(ConfigError, match="edsr: got an unexpected keyword argument 'bogus'"):
        A.EDSR(bogus=1)


def test_net_info_describes_each_family() -> None:
    vdsr = A.build_model("vdsr").info
    assert (vdsr.scale, vdsr.scales, vdsr.color, vdsr.input) == (1, None, "y", "upsampled")
    assert vdsr.supports_scale(3) and vdsr.scales_text() == "any"
    fsrcnn = A.build_model("fsrcnn", scale=3).info
    assert (fsrcnn.scale, fsrcnn.scales, fsrcnn.color, fsrcnn.in_channels) == (3, (3,), "y", 1)
    unshuffled = A.build_model("rrdbnet", scale=2, num_block=0).info
    assert unshuffled.size_multiple == 2 and not unshuffled.supports_scale(4)
    assert A.build_model("edsr-baseline", scale=4).info.scales_text() == "x4"


def test_registry_lists_come_from_registration() -> None:
    assert list(A.ARCHS) == list(A.ARCH_ENTRIES)
    assert A.PRESETS["edsr-baseline"] == ("edsr", {"num_feat": 64, "num_block": 16, "res_scale": 1.0})
    from_entries = [layout.name for entry in A.ARCH_ENTRIES.values() for layout in entry.layouts]
    assert A.format_names() == from_entries and "vdsr" in from_entries
    with pytest.raises(ConfigError, match="already registered"):
        register_arch("edsr", A.EDSR)
    with pytest.raises(ConfigError, match=r"not an srkit\.archs\.SRNet"):
        register_arch("plain", nn.Conv2d)  # type: ignore[arg-type]


def test_layout_signatures_are_disjoint() -> None:
    """Detection order decides nothing: no layout's signature keys are all in another's."""
    layouts = A.loading.layouts()
    for a in layouts:
        for b in layouts:
            if a is not b:
                assert not set(a.signature) <= set(b.signature), (a.name, b.name)


# --------------------------------------------------------------------------------------------------
# The one runner: training validation and eval give the same SR
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(TINY))
def test_validation_and_eval_use_the_same_runner(arch: str) -> None:
    from srkit.infer.upscalers import load_upscaler
    from srkit.train.validation import upscale

    torch.manual_seed(0)
    scale = 2
    hyper = {**TINY[arch], **({} if arch == "vdsr" else {"scale": scale})}
    model = A.build_model(arch, **hyper).eval()
    lr = torch.rand(1, 3, 10, 14)
    val = upscale(model, lr, scale)
    runner = A.make_runner(model, device="cpu", precision="fp32")
    assert torch.equal(val, runner(lr, scale))
    assert val.shape == (1, 3, 20, 28) and val.min() >= 0 and val.max() <= 1
    assert load_upscaler("bicubic").supports_scale(scale)


def test_runner_refuses_a_precision_the_network_does_not_list(tmp_path: Path) -> None:
    class FP32Only(SRNet):
        def __init__(self, scale: int = 2) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
            self.shuffle = nn.PixelShuffle(scale)

        @classmethod
        def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
            return NetInfo("fp32only", hparams["scale"], precisions=("fp32",))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.shuffle(self.conv(x))

    register_arch("fp32only", FP32Only)
    try:
        with pytest.raises(ConfigError, match="does not run in bf16; use --precision fp32"):
            A.make_runner(FP32Only(), device="cpu", precision="bf16")
        runner = A.make_runner(FP32Only(), device="cpu", precision="fp32")
        assert runner(torch.rand(1, 3, 4, 4), 2).shape[-1] == 8
    finally:
        unregister_arch("fp32only")


# --------------------------------------------------------------------------------------------------
# Every registered family trains, evaluates and upscales through the command line
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(TINY))
def test_every_family_trains_evaluates_and_upscales(arch: str, tmp_path: Path) -> None:
    raw = _recipe(tmp_path, arch, TINY[arch], 4)
    run = tmp_path / "run"
    result = train(build_config(raw), run_dir=run)
    assert result.step == 4 and set(result.val) == {"val"}
    assert np.isfinite(result.val["val"]["psnr"])
    assert read_weights(run / "model.safetensors")[1].arch == arch
    _, val = tiny_data(tmp_path)
    out = tmp_path / "eval"
    _cli("eval", "--model", str(run / "model.safetensors"), "--dataset", str(val), "--scale", "2",
         "--out", str(out), "--no-progress")  # fmt: skip
    rows = json.loads((out / "eval.json").read_text())["groups"]
    assert rows[0]["images"] == 2 and np.isfinite(rows[0]["psnr"])
    photo = _rgb(tmp_path / "photo.png", (37, 29))
    _cli("upscale", str(photo), "--model", str(run / "model.safetensors"), "--scale", "2",
         "--tile", "16", "--tile-overlap", "4", "-o", str(tmp_path / "up"))  # fmt: skip
    with PILImage.open(tmp_path / "up" / "photo_x2.png") as im:
        assert im.size == (74, 58) and im.mode == "RGB"


@pytest.mark.parametrize("recipe", ["fsrcnn_x3.yaml", "vdsr_x2.yaml"])
def test_luma_recipes_train_on_y_and_validate(recipe: str, tmp_path: Path) -> None:
    """The tiny FSRCNN and VDSR recipes train (on Y; VDSR on the upsampled image) and validate."""
    train_dir, val_dir = tiny_data(tmp_path)
    config = load_config(
        CONFIGS / "tiny" / recipe,
        [
            f"data.train.hr=[{train_dir}]",
            f"data.val.datasets=[{val_dir}]",
            "data.val.every=3",
            "data.train.patch_size=8",
            "data.train.batch_size=4",
            "train.steps=6",
            "train.threads=1",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    result = train(config, run_dir=tmp_path / "run")
    info = A.load_network(result.weights).info
    assert info.color == "y" and info.in_channels == 1
    assert np.isfinite(result.val["val"]["psnr"]) and result.val["val"]["psnr"] > 5


def test_vdsr_takes_no_scale_but_trains_at_the_recipe_scale(tmp_path: Path) -> None:
    raw = _recipe(tmp_path, "vdsr", TINY["vdsr"], 2)
    raw["scale"] = 3
    raw["data"]["train"]["patch_size"] = 6
    result = train(build_config(raw), run_dir=tmp_path / "run")
    assert read_weights(result.weights)[1].scale == 1 and np.isfinite(result.val["val"]["psnr"])
    raw = _recipe(tmp_path, "msrresnet", TINY["msrresnet"], 2)
    raw["scale"] = 8
    with pytest.raises(ConfigError, match="model: msrresnet: scale=8 is not supported; valid: 2, 3, 4"):
        train(build_config(raw), run_dir=tmp_path / "bad")


# --------------------------------------------------------------------------------------------------
# A toy architecture from tests/, through the public registration API only
# --------------------------------------------------------------------------------------------------


class ToyNet(SRNet):
    """A conv on the pixel-unshuffled input, a conv to ``scale**2 * 4`` channels and a pixel shuffle by
    ``2 * scale``: its input sides must be even (``size_multiple`` 2), which the runner pads to."""

    def __init__(self, scale: int = 2, num_feat: int = 6) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(12, num_feat, 3, padding=1)
        self.tail = nn.Conv2d(num_feat, 3 * (2 * scale) ** 2, 3, padding=1)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return NetInfo("toy", hparams["scale"], size_multiple=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        feat = torch.relu(self.head(F.pixel_unshuffle(x, 2)))
        return base + F.pixel_shuffle(self.tail(feat), 2 * self.scale)


def _convert_toy(state: StateDict, hints: Hints) -> Converted:
    """The 'toy-foreign' layout: ``enc.*``/``dec.*`` keys, the scale read off the decoder's shape."""
    feat = shape(state, "enc.weight", hints, "toy-foreign")[0]
    scale = round((shape(state, "dec.weight", hints, "toy-foreign")[0] / 3) ** 0.5) // 2
    renamed = {k.replace("enc.", "head.").replace("dec.", "tail."): v for k, v in state.items()}
    return "toy", {"scale": scale, "num_feat": feat}, renamed


TOY_LAYOUT = CheckpointFormat(
    "toy-foreign", "Toy, a foreign project's layout (enc, dec)", ("enc.weight", "dec.weight"), _convert_toy
)


@pytest.fixture
def toy() -> Iterator[None]:
    register_arch("toy", ToyNet, presets={"toy-small": {"num_feat": 4}}, layouts=[TOY_LAYOUT])
    try:
        yield
    finally:
        unregister_arch("toy")


def test_toy_architecture_trains_evaluates_upscales_tiled_and_exports(toy: None, tmp_path: Path) -> None:
    assert "toy" in A.ARCHS and A.PRESETS["toy-small"] == ("toy", {"num_feat": 4})
    raw = _recipe(tmp_path, "toy-small", {}, 6)
    run = tmp_path / "run"
    result = train(build_config(raw), run_dir=run)
    assert read_weights(result.weights)[1].hparams == {"scale": 2, "num_feat": 4}
    weights = str(run / "model.safetensors")

    _, val = tiny_data(tmp_path)
    _cli("eval", "--model", weights, "--dataset", str(val), "--scale", "2", "--out", str(tmp_path / "ev"),
         "--no-progress")  # fmt: skip
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["groups"][0]["images"] == 2

    photo = _rgb(tmp_path / "odd.png", (45, 33))  # odd sides: the runner pads to the size multiple
    _cli("upscale", str(photo), "--model", weights, "--tile", "0", "-o", str(tmp_path / "whole"))
    _cli("upscale", str(photo), "--model", weights, "--tile", "36", "--tile-overlap", "16",
         "-o", str(tmp_path / "tiled"))  # fmt: skip
    whole = np.asarray(PILImage.open(tmp_path / "whole" / "odd_x2.png"), dtype=np.int16)
    tiled = np.asarray(PILImage.open(tmp_path / "tiled" / "odd_x2.png"), dtype=np.int16)
    assert whole.shape == (66, 90, 3) and np.abs(whole - tiled).max() <= 2

    pytest.importorskip("onnxruntime")
    _cli("export", weights, "--onnx", str(tmp_path / "toy.onnx"))
    assert (tmp_path / "toy.onnx").stat().st_size > 0


def test_toy_checkpoint_layout_converts_and_is_listed(toy: None, tmp_path: Path, capsys: Any) -> None:
    net = ToyNet(scale=3, num_feat=5)
    foreign = {k.replace("head.", "enc.").replace("tail.", "dec."): v for k, v in net.state_dict().items()}
    torch.save(foreign, tmp_path / "toy_foreign.pth")
    _cli("convert", str(tmp_path / "toy_foreign.pth"), str(tmp_path / "toy.safetensors"))
    state, meta = read_weights(tmp_path / "toy.safetensors")
    assert (meta.arch, meta.hparams, meta.scale) == ("toy", {"scale": 3, "num_feat": 5}, 3)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    assert "toy-foreign" in capsys.readouterr().out
    main(["models", "--archs"])
    listed = capsys.readouterr().out
    assert "toy" in listed and "toy-small" in listed and "toy-foreign" in listed


def test_auto_precision_falls_back_to_what_the_network_supports(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--precision auto`` never picks a precision the network refuses (SwinIR/HAT/davit_sr: no fp16)."""
    import srkit.archs.runner as runner_mod

    net = A.build_model("davit_sr", **TINY["davit_sr"], scale=2)
    assert "fp16" not in net.info.precisions
    monkeypatch.setattr(runner_mod, "resolve_precision", lambda precision, device: "fp16")
    assert A.make_runner(net, device="cpu", precision="auto").precision == "fp32"
    with pytest.raises(ConfigError, match="does not run in fp16"):
        A.make_runner(net, device="cpu", precision="fp16")
