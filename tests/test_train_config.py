"""Training configuration: the recipes in configs/, validation errors naming dotted keys, --set overrides,
``extends``, and the resolved config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srkit.cli import build_parser
from srkit.errors import ConfigError
from srkit.train.cli import resolve_paths
from srkit.train.config import (
    apply_override,
    build_config,
    config_to_dict,
    diff_keys,
    dump_config,
    load_config,
    parse_override,
)
from srkit.train.engine import incompatible_changes
from srkit.train.objectives import OBJECTIVES, build_objective, register_objective
from test_train_support import tiny_config, write_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = sorted(CONFIGS.glob("*.yaml"))
TINY = sorted((CONFIGS / "tiny").glob("*.yaml"))


def test_there_are_recipes_and_each_has_a_tiny_variant() -> None:
    names = {p.stem for p in RECIPES}
    assert {"srresnet_x2", "edsr_baseline_x2", "edsr_baseline_x3", "edsr_baseline_x4", "edsr_x2"} <= names
    assert "rrdb_psnr_x4" in names
    assert {p.stem for p in TINY} == names


@pytest.mark.parametrize("path", RECIPES + TINY, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_config_validates_and_round_trips(path: Path) -> None:
    config = load_config(path)
    assert config.data.train.hr == ["../shared/data/BSDS500/train", "../shared/data/BSDS500/test"]
    assert config.data.val.datasets == ["../shared/data/Set5"]
    again = build_config(yaml.safe_load(dump_config(config)))
    assert again == config


@pytest.mark.parametrize("path", TINY, ids=lambda p: p.name)
def test_tiny_variants_keep_the_recipe_and_shrink_it(path: Path) -> None:
    tiny = load_config(path)
    full = load_config(CONFIGS / path.name)
    assert tiny.name == f"{full.name}_tiny"
    assert (tiny.scale, tiny.model.arch, tiny.objective, tiny.optim.type) == (
        full.scale,
        full.model.arch,
        full.objective,
        full.optim.type,
    )
    assert tiny.train.steps <= 2000 < full.train.steps
    assert tiny.train.precision == "auto" and tiny.train.channels_last  # bf16 where it is fast


def test_recipe_numbers_match_the_papers() -> None:
    srresnet = load_config(CONFIGS / "srresnet_x2.yaml")
    assert srresnet.model.hparams["num_blocks"] == 16 and srresnet.model.hparams["num_feat"] == 64
    assert (srresnet.optim.lr, srresnet.objective.losses[0].type) == (1e-4, "mse")
    assert (srresnet.data.train.patch_size * srresnet.scale, srresnet.data.train.batch_size) == (128, 8)
    assert srresnet.train.steps == 100_000
    for s in (2, 3, 4):
        edsr = load_config(CONFIGS / f"edsr_baseline_x{s}.yaml")
        assert (edsr.scale, edsr.model.arch, edsr.objective.losses[0].type) == (s, "edsr-baseline", "l1")
        assert (edsr.optim.lr, edsr.optim.betas, edsr.data.train.patch_size) == (1e-4, (0.9, 0.999), 48)
        assert (edsr.data.train.batch_size, edsr.train.steps) == (16, 300_000)
        assert (edsr.schedule.type, edsr.schedule.step_size, edsr.schedule.gamma) == ("step", 200_000, 0.5)
    assert load_config(CONFIGS / "edsr_x2.yaml").model.arch == "edsr"
    rrdb = load_config(CONFIGS / "rrdb_psnr_x4.yaml")
    assert (rrdb.optim.lr, rrdb.schedule.step_size, rrdb.schedule.gamma) == (2e-4, 200_000, 0.5)
    assert (rrdb.data.train.patch_size * rrdb.scale, rrdb.data.train.batch_size, rrdb.train.steps) == (
        128,
        16,
        1_000_000,
    )


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def _error(tmp_path: Path, overrides: list[str], **sections) -> str:
    path = write_config(tmp_path / "recipe.yaml", tiny_config(tmp_path, **sections))
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.lr=-1"], "optim.lr: Input should be greater than 0 (got -1)"),
        (["train.foo=1"], "train.foo: unknown key"),
        (["train.precision=fp8"], "train.precision: Input should be 'fp32', 'bf16', 'fp16' or 'auto'"),
        (["schedule.type=step"], "schedule.step_size: required for schedule type 'step'"),
        (
            ["schedule.type=cosine", "schedule.milestones=[10]"],
            "schedule.milestones: not used by schedule type",
        ),
        (
            ["schedule.type=multistep", "schedule.milestones=[20, 10]"],
            "schedule.milestones: must be a non-empty",
        ),
        (
            ["objective.losses.0.type=ssim"],
            "objective.losses.0.type: Input should be 'l1', 'mse', 'charbonnier' or 'edge_l1'",
        ),
        (["objective.losses.0.eps=0.1"], "objective.losses.0.eps: only charbonnier takes eps, not l1"),
        (["objective.name=wgan"], "objective: Input tag 'wgan'"),
        (["model.arch=nope"], "model.arch: unknown model 'nope'"),
        (["model.hparams.scale=3"], "model.hparams.scale: set the top-level 'scale' instead"),
        (["model.hparams.depth=3"], "model.hparams: edsr: unknown hyper-parameter 'depth'"),
        (
            ["data.train.groups=[{name: blurry}]"],
            "data.train.groups.0.name: degradation: unknown degradation group",
        ),
        (["data.val.groups=[blurry]"], "data.val.groups: degradation: unknown degradation group"),
        (["data.train.augment.jpeg_quality=[90, 10]"], "data.train.augment.jpeg_quality: must be integers"),
        (["train.ema_decay=1.5"], "train.ema_decay: Input should be less than 1"),
        (["train.device=cpu", "train.precision=fp16"], "train.precision: fp16 needs CUDA; use bf16 on CPU"),
        (["name=a/b"], "name: must be a plain folder name"),
        (["optim.betas=[0.9, 1.0]"], "optim.betas: each beta must be in [0, 1)"),
    ],
)
def test_errors_are_one_line_and_name_the_dotted_key(
    tmp_path: Path, overrides: list[str], expected: str
) -> None:
    assert _error(tmp_path, overrides).startswith(expected)


def test_several_errors_give_the_first_and_a_count(tmp_path: Path) -> None:
    message = _error(tmp_path, ["optim.lr=0", "train.steps=0"])
    assert message.startswith("optim.lr: ") or message.startswith("train.steps: ")
    assert message.endswith("(and 1 more error)")


def test_missing_required_key(tmp_path: Path) -> None:
    data = tiny_config(tmp_path)
    del data["train"]["steps"]
    with pytest.raises(ConfigError, match=r"^train\.steps: Field required$"):
        build_config(data)


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel: {arch: edsr\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: YAML error at line \d+"):
        load_config(path)
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a YAML mapping, got list"):
        load_config(path)


# --------------------------------------------------------------------------------------------------
# overrides, extends, round trip
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("optim.lr=1e-4", 1e-4),
        ("a=2", 2),
        ("a=true", True),
        ("a=null", None),
        ("a=[0.9, 0.99]", [0.9, 0.99]),
        ("a={x: 1}", {"x": 1}),
        ("a=bicubic", "bicubic"),
        ("a=", None),
    ],
)
def test_override_values_are_yaml(text: str, value: object) -> None:
    parts, parsed = parse_override(text)
    assert parts == text.partition("=")[0].split(".")
    if isinstance(value, float):
        assert float(parsed) == value  # YAML 1.1 reads 1e-4 as a string; pydantic converts it
    else:
        assert parsed == value


def test_override_paths_create_mappings_and_index_lists() -> None:
    data = {"objective": {"losses": [{"type": "l1"}, {"type": "mse"}]}}
    apply_override(data, ["objective", "losses", "1", "weight"], 0.5)
    apply_override(data, ["model", "hparams", "num_block"], 4)
    assert data == {
        "objective": {"losses": [{"type": "l1"}, {"type": "mse", "weight": 0.5}]},
        "model": {"hparams": {"num_block": 4}},
    }
    with pytest.raises(ConfigError, match=r"objective\.losses\.5: index out of range"):
        apply_override(data, ["objective", "losses", "5", "weight"], 1)
    with pytest.raises(ConfigError, match=r"model\.hparams\.num_block: is a value"):
        apply_override(data, ["model", "hparams", "num_block", "x"], 1)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("optim.lr")


def test_set_overrides_apply_in_order(tmp_path: Path) -> None:
    path = write_config(tmp_path / "r.yaml", tiny_config(tmp_path))
    config = load_config(
        path, ["optim.lr=1e-4", "train.steps=7", "optim.lr=3e-4", "model.hparams.num_block=1"]
    )
    assert (config.optim.lr, config.train.steps, config.model.hparams["num_block"]) == (3e-4, 7, 1)


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    base = write_config(tmp_path / "base.yaml", tiny_config(tmp_path))
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.yaml"
    child.write_text(
        "extends: ../base.yaml\nname: child\noptim: {lr: 5.0e-4}\n"
        "objective: {losses: [{type: mse, weight: 2.0}]}\n",
        encoding="utf-8",
    )
    config = load_config(child)
    parent = load_config(base)
    assert config.name == "child" and config.optim.lr == 5e-4 and config.optim.type == parent.optim.type
    assert [(t.type, t.weight) for t in config.objective.losses] == [("mse", 2.0)]
    assert diff_keys(config_to_dict(parent), config_to_dict(config)) == [
        "name",
        "objective.losses",
        "optim.lr",
    ]
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\nname: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="extends: cycle"):
        load_config(loop)


def test_resolved_config_reproduces_the_run(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "r.yaml", tiny_config(tmp_path, schedule={"type": "cosine", "eta_min": 1e-5})
    )
    config = load_config(path, ["train.steps=11"])
    text = dump_config(config)
    assert "milestones" not in text and "step_size" not in text  # unused schedule keys are left out
    written = tmp_path / "config.yaml"
    written.write_text(text, encoding="utf-8")
    assert load_config(written) == config


def test_resume_allows_only_harmless_changes(tmp_path: Path) -> None:
    old = config_to_dict(build_config(tiny_config(tmp_path)))
    harmless = config_to_dict(
        build_config(
            tiny_config(tmp_path, train={"steps": 99, "log_every": 3}, data={"train": {"num_workers": 2}})
        )
    )
    assert incompatible_changes(old, harmless) == []
    changed = config_to_dict(build_config(tiny_config(tmp_path, optim={"lr": 1e-3}, seed=3)))
    assert incompatible_changes(old, changed) == ["seed", "optim.lr"]


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def test_train_subcommand_arguments() -> None:
    args = build_parser().parse_args(["train", "r.yaml", "--set", "a=1", "b=2", "--set", "c=3", "--resume"])
    assert (args.command, args.config, args.overrides) == ("train", Path("r.yaml"), ["a=1", "b=2", "c=3"])
    assert resolve_paths("tiny", args.out, args.resume) == (Path("runs/tiny"), Path("runs/tiny/state.pt"))
    plain = build_parser().parse_args(["train", "r.yaml"])
    assert (plain.overrides, plain.resume, plain.out) == ([], None, None)
    assert resolve_paths("tiny", None, None) == (Path("runs/tiny"), None)
    assert resolve_paths("tiny", Path("o"), None) == (Path("o"), None)
    assert resolve_paths("tiny", Path("o"), args.resume) == (Path("o"), Path("o/state.pt"))


def test_resume_path_to_a_file_or_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert resolve_paths("tiny", None, str(run)) == (run, run / "state.pt")
    assert resolve_paths("tiny", None, str(run / "state.pt")) == (run, run / "state.pt")
    assert resolve_paths("tiny", tmp_path / "new", str(run)) == (tmp_path / "new", run / "state.pt")


def test_cli_reports_config_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from srkit.cli import main

    path = write_config(tmp_path / "r.yaml", tiny_config(tmp_path))
    assert main(["train", str(path), "--set", "optim.lr=0"]) == 2
    err = capsys.readouterr().err
    assert err == f"srkit: error: {path}: optim.lr: Input should be greater than 0 (got 0)\n"


def test_the_objective_section_takes_every_registered_objective(tmp_path: Path) -> None:
    assert list(OBJECTIVES) == ["pixel", "erm", "group_dro", "gan", "diffusion"]
    data = tiny_config(tmp_path)
    for name, entry in OBJECTIVES.items():
        config = build_config({**data, "objective": {"name": name}})
        assert type(config.objective) is entry.config
        assert type(build_objective(config.objective)) is entry.objective and entry.objective.name == name
    del data["objective"]
    assert type(build_config(data).objective) is OBJECTIVES["pixel"].config
    with pytest.raises(ConfigError, match="expected tags: 'pixel', 'erm', 'group_dro', 'gan', 'diffusion'"):
        build_config({**data, "objective": {"name": "wgan"}})


def test_register_objective_checks_the_config_tag() -> None:
    config_model = OBJECTIVES["pixel"].config
    with pytest.raises(ValueError, match="already registered"):
        register_objective("pixel", config_model)(type("Again", (), {}))
    with pytest.raises(ValueError, match=r"needs a field name: Literal\['other'\]"):
        register_objective("other", config_model)(type("Other", (), {}))
    assert "other" not in OBJECTIVES


STUDY = CONFIGS / "study" / "transformers"
ARMS = sorted(p for p in STUDY.glob("*.yaml") if p.name != "base.yaml")


def test_transformer_study_arms_differ_only_in_network_loss_and_data() -> None:
    """docs/transformers.md's study: every arm is base.yaml with its network, its loss, its kernel mix
    and its step count (the same CPU time); nothing else may differ between arms."""
    arms = {p.stem: load_config(p) for p in ARMS}
    assert len(arms) == 7
    for name, cfg in arms.items():
        data = "bicubic" if name.endswith("_bicubic") else "mixed"
        groups = [g.name for g in cfg.data.train.groups]
        assert groups == (["bicubic"] if data == "bicubic" else ["bilinear", "bicubic", "area"]), name
        assert cfg.scale == 4 and cfg.train.precision == "fp32" and cfg.data.train.patch_size == 24
        loss = cfg.objective.losses[0]
        assert (loss.type, loss.start) == (("edge_l1", 0.5) if "_edge_" in name else ("l1", None))
    same = {
        name: cfg.model_copy(
            update={
                "name": "",
                "description": "",
                "model": None,
                "objective": None,
                "data": None,
                "train": None,
            }
        )
        for name, cfg in arms.items()
    }
    assert len({repr(v) for v in same.values()}) == 1
    steps = {cfg.model.arch: cfg.train.steps for cfg in arms.values()}
    assert steps == {"davit-sr-small": 640, "swinir-s": 180, "edsr-baseline": 390}
