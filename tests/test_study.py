"""``srkit study`` (issue 17): arms of one recipe trained one after another, resumable, evaluated and
tabulated; seeds pooled as mean ± std; an arm whose weight files are absent is not run and says why."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from srkit.cli import main
from srkit.errors import ConfigError
from srkit.study import load_study, plan_study, run_study
from test_train_support import tiny_config, tiny_data, write_config


def _study(root: Path, **extra: object) -> Path:
    recipe = write_config(
        root / "recipe.yaml",
        tiny_config(root, train={"steps": 6, "log_every": 3}, data={"val": {"every": 3}}),
    )
    _, val = tiny_data(root)
    data = {
        "name": "mini",
        "description": "a two-arm study on tiny data",
        "recipe": recipe.name,
        "set": ["train.checkpoint_every=3"],
        "out": str(root / "out"),
        "arms": [
            {"name": "wide", "finding": "the reference"},
            {"name": "narrow", "set": ["model.hparams.num_feat=4"], "finding": "fewer channels: lower PSNR"},
            {"name": "perceptual", "requires": ["vgg19"], "finding": "needs the VGG19 weights"},
        ],
        "eval": {"datasets": [str(val)], "degradations": ["bicubic", "nearest"], "held_out": ["nearest"]},
        **extra,
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))


def test_study_trains_evaluates_and_tabulates_every_arm(tmp_path: Path, empty_cache: None, capsys) -> None:
    path = _study(tmp_path, seeds=[0, 1], compare=[["wide", "narrow"]])
    result = run_study(path, echo=lambda line: None)
    assert sorted(result.trained) == ["narrow-s0", "narrow-s1", "wide-s0", "wide-s1"]
    out = tmp_path / "out"
    for label in result.trained:
        record = json.loads((out / label / "study-run.json").read_text())
        assert record["done"] and record["step"] == 6 and record["seconds"] > 0
        assert record["params"] > 0 and record["machine"]["cpu"] and "amx" in record["machine"]
        assert (out / label / "eval" / "eval.json").is_file()
    data = json.loads((out / "study.json").read_text())
    wide = data["arms"]["wide"]
    evals = [json.loads((out / f"wide-s{s}" / "eval" / "eval.json").read_text()) for s in (0, 1)]
    psnr = [next(g["psnr"] for g in e["groups"] if g["degradation"] == "nearest") for e in evals]
    cell = next(k for k in wide["groups"] if k.endswith("/nearest"))
    assert [k.split("/")[1] for k in wide["groups"]] == ["bicubic", "nearest"]  # evaluation order
    assert wide["groups"][cell]["psnr"] == psnr and wide["seeds"] == [0, 1]
    worst = [min(g["psnr"] for g in e["groups"] if g["degradation"] != "nearest") for e in evals]
    assert next(iter(wide["worst"].values())) == worst  # over the trained groups: nearest is held out
    assert next(iter(wide["worst_held_out"].values())) == psnr
    assert next(iter(wide["worst_overall"].values())) == [min(w, p) for w, p in zip(worst, psnr, strict=True)]
    assert wide["params"] > data["arms"]["narrow"]["params"] > 0
    assert data["arms"]["perceptual"]["skip"].startswith("needs vgg19-dcbb9e9d.pth")
    (row,) = data["compare"]
    narrow_worst = next(iter(data["arms"]["narrow"]["worst"].values()))
    assert row["gains"] == pytest.approx([w - n for w, n in zip(worst, narrow_worst, strict=True)])
    assert row["spread"] == pytest.approx(max(statistics.stdev(worst), statistics.stdev(narrow_worst)))
    narrow_held = next(iter(data["arms"]["narrow"]["worst_held_out"].values()))
    assert row["held_out"]["gains"] == pytest.approx([w - n for w, n in zip(psnr, narrow_held, strict=True)])
    for verdict in (row, row["held_out"]):
        gain, spread = statistics.fmean(verdict["gains"]), verdict["spread"]
        assert verdict["exceeds_spread"] == (gain > spread) and verdict["below_spread"] == (gain < -spread)
    md = (out / "study.md").read_text()
    mean, std = statistics.fmean(psnr), statistics.stdev(psnr)
    assert f"{mean:.2f} ± {std:.2f}" in md and "nearest (held out)" in md and "| worst (held out) |" in md
    assert "| perceptual | not run: needs vgg19" in md and "fewer channels: lower PSNR" in md
    assert "wide vs narrow" in md
    assert "| model | dataset | interpolation | PSNR | SSIM | scale |" in md
    assert f"| wide | {cell.split('/')[0]} | nearest | {mean:.2f} ± {std:.2f} |" in md
    csv_lines = (out / "study.csv").read_text().splitlines()
    assert csv_lines[0] == "model,dataset,interpolation,psnr,ssim,scale,seeds" and len(csv_lines) == 1 + 2 * 2
    assert (out / "curves.png").stat().st_size > 0
    # a second run trains nothing and reuses every evaluation
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/eval/eval.json")}
    again = run_study(path, echo=lambda line: None)
    assert again.trained == [] and {p: p.stat().st_mtime_ns for p in out.glob("*/eval/eval.json")} == stamps


def test_an_interrupted_arm_resumes(tmp_path: Path, empty_cache: None) -> None:
    path = _study(tmp_path)
    study, base = load_study(path)
    (wide, *_) = plan_study(study, base)
    from srkit.train.engine import train

    half = wide.config.model_copy(update={"train": wide.config.train.model_copy(update={"steps": 3})})
    train(half, run_dir=wide.run_dir)  # an earlier invocation that stopped after 3 of 6 steps
    assert (wide.run_dir / "state.pt").is_file() and not wide.done
    lines: list[str] = []
    run_study(path, only=["wide"], echo=lines.append)
    assert any(line.startswith("study: resuming wide") for line in lines)
    assert wide.done and wide.record()["step"] == 6


def test_cli_runs_one_arm_and_reports(tmp_path: Path, empty_cache: None, capsys) -> None:
    path = _study(tmp_path)
    assert main(["study", "run", str(path), "--arm", "narrow"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "study.md" in printed
    assert (tmp_path / "out" / "narrow" / "eval" / "eval.json").is_file()
    assert not (tmp_path / "out" / "wide").exists()
    assert main(["study", "report", str(path)]) == 0
    assert not (tmp_path / "out" / "wide").exists()  # report trains nothing
    assert main(["study", "run", str(path), "--arm", "nope"]) == 2
    assert "unknown arm 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "colour"),
        ({"arms": [{"name": "a"}, {"name": "a"}]}, "arm names repeat: a"),
        ({"compare": [["wide", "ghost"]]}, "unknown arm 'ghost'"),
        ({"arms": [{"name": "a", "set": ["optim.lr=-1"]}]}, "arm a:"),
        ({"arms": [{"name": "a", "requires": ["vgg99"]}]}, "unknown weight files 'vgg99'"),
    ],
)
def test_bad_study_files_are_one_line_errors(
    tmp_path: Path, empty_cache: None, capsys, change: dict, message: str
) -> None:
    path = _study(tmp_path)
    data = yaml.safe_load(path.read_text()) | change
    path.write_text(yaml.safe_dump(data))
    assert main(["study", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # validated before anything ran
    with pytest.raises(ConfigError):
        load_study(tmp_path / "missing.yaml")


def test_seed_option_runs_only_those_seeds(tmp_path: Path, empty_cache: None, capsys) -> None:
    path = _study(tmp_path, seeds=[0, 1])
    assert main(["study", "run", str(path), "--arm", "narrow", "--seed", "1"]) == 0
    out = tmp_path / "out"
    assert (out / "narrow-s1" / "eval" / "eval.json").is_file() and not (out / "narrow-s0").exists()
    data = json.loads((out / "study.json").read_text())
    assert data["arms"]["narrow"]["seeds"] == [1] and data["arms"]["narrow"]["params"] > 0
    assert data["arms"]["wide"]["seeds"] == [] and "| wide |" in (out / "study.md").read_text()


def test_archive_keeps_results_that_later_runs_pool_with_new_seeds(
    tmp_path: Path, empty_cache: None, capsys
) -> None:
    import shutil

    path = _study(tmp_path, seeds=[0, 1], archive="kept")
    data = yaml.safe_load(path.read_text())
    data["eval"]["references"] = [{"name": "interp", "model": "bicubic"}]
    path.write_text(yaml.safe_dump(data))
    out, kept = tmp_path / "out", tmp_path / "kept"
    assert main(["study", "run", str(path), "--arm", "narrow", "--seed", "0"]) == 0
    before = json.loads((out / "study.json").read_text())["arms"]["narrow"]
    before_interp = json.loads((out / "study.json").read_text())["arms"]["interp"]
    assert main(["study", "archive", str(path)]) == 0
    assert sorted(p.name for p in kept.iterdir()) == [
        "narrow-s0", "ref-interp", "study.csv", "study.json", "study.md"
    ]  # fmt: skip
    record = json.loads((kept / "narrow-s0" / "study-run.json").read_text())
    assert record["done"] and record["params"] == before["params"] > 0
    assert record["machine"]["cpu"] and isinstance(record["machine"]["amx"], bool)
    assert (kept / "narrow-s0" / "log.jsonl").read_text() == (out / "narrow-s0" / "log.jsonl").read_text()
    assert not list(kept.rglob("*.safetensors")) and not list(kept.rglob("state.pt"))
    shutil.rmtree(out)  # a fresh clone: run folders gone, the archive kept
    lines: list[str] = []
    result = run_study(path, only=["narrow"], echo=lines.append)
    assert result.trained == ["narrow-s1"]  # seed 0 is read from the archive, not trained again
    assert not (out / "narrow-s0").exists() and not (out / "ref-interp").exists()  # read, not redone
    assert json.loads((kept / "ref-interp" / "reference.json").read_text())["model"] == "bicubic"
    narrow = json.loads((out / "study.json").read_text())["arms"]["narrow"]
    assert narrow["seeds"] == [0, 1] and narrow["params"] == before["params"]
    cell = next(iter(before["groups"]))
    assert narrow["groups"][cell]["psnr"][0] == before["groups"][cell]["psnr"][0]
    assert narrow["best_val_psnr"][0] == before["best_val_psnr"][0]
    assert narrow["train_seconds"][0] == before["train_seconds"][0]
    interp = json.loads((out / "study.json").read_text())["arms"]["interp"]
    assert interp["reference"] and interp["groups"] == before_interp["groups"]


def test_archive_needs_an_archive_folder(tmp_path: Path, empty_cache: None, capsys) -> None:
    path = _study(tmp_path)
    assert main(["study", "archive", str(path)]) == 2
    err = capsys.readouterr().err
    assert "has no archive: folder" in err and len(err.strip().splitlines()) == 1


def test_a_run_archived_without_its_evaluation_is_an_error_not_a_retrain(
    tmp_path: Path, empty_cache: None
) -> None:
    path = _study(tmp_path, archive="kept")
    (tmp_path / "kept" / "wide").mkdir(parents=True)
    (tmp_path / "kept" / "wide" / "study-run.json").write_text(json.dumps({"done": True, "seconds": 1.0}))
    with pytest.raises(ConfigError, match="archived without"):
        run_study(path, only=["wide"], echo=lambda line: None)
    assert not (tmp_path / "out" / "wide").exists()


def test_references_are_evaluated_alike_and_compared_with_every_seed(
    tmp_path: Path, empty_cache: None
) -> None:
    from srkit.data import resolve_dataset
    from srkit.degrade import parse_groups
    from srkit.evaluation import evaluate
    from srkit.infer.upscalers import load_upscaler

    path = _study(tmp_path, seeds=[0, 1], compare=[["wide", "nearest"]])
    data = yaml.safe_load(path.read_text())
    data["eval"]["references"] = ["nearest"]
    path.write_text(yaml.safe_dump(data))
    run_study(path, only=["wide"], echo=lambda line: None)
    out = tmp_path / "out"
    summary = json.loads((out / "study.json").read_text())
    ref = summary["arms"]["nearest"]
    assert ref["reference"] and ref["seeds"] == [] and ref["train_seconds"] == []
    direct = evaluate(
        load_upscaler("nearest"),
        [resolve_dataset(data["eval"]["datasets"][0], progress=False)],
        [2],
        parse_groups(data["eval"]["degradations"]),
        progress=False,
    )
    key = next(k for k in ref["groups"] if k.endswith("/bicubic"))
    got = next(g.psnr for g in direct.groups() if g.degradation == "bicubic")
    assert ref["groups"][key]["psnr"] == [pytest.approx(got, abs=1e-9)]
    (row,) = summary["compare"]
    wide_worst = next(iter(summary["arms"]["wide"]["worst"].values()))
    ref_worst = next(iter(ref["worst"].values()))[0]
    assert row["seeds"] == [0, 1] and row["gains"] == pytest.approx([w - ref_worst for w in wide_worst])
    assert row["spread"] == pytest.approx(statistics.stdev(wide_worst))
    assert "| nearest |" in (out / "study.md").read_text()


@pytest.mark.parametrize(
    ("references", "compare", "message"),
    [
        (["wide"], [], "'wide' is also an arm's name"),
        ([{"name": "wide", "model": "bicubic"}], [], "'wide' is also an arm's name"),
        ([{"model": "bicubic"}], [], "name"),
        (["bicubic"], [["bicubic", "wide"]], "unknown arm 'bicubic'"),
    ],
)
def test_bad_references_are_config_errors(
    tmp_path: Path, empty_cache: None, references: list, compare: list, message: str
) -> None:
    path = _study(tmp_path, compare=compare)
    data = yaml.safe_load(path.read_text())
    data["eval"]["references"] = references
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_study(path)


REPO = Path(__file__).resolve().parents[1]
ARCHIVED = [
    p
    for p in sorted((REPO / "configs" / "study").glob("*.yaml"))
    if (lambda s: s.archive is not None and (p.parent / s.archive / "study.json").is_file())(load_study(p)[0])
]


@pytest.mark.parametrize(
    "study_file",
    [pytest.param(p, id=p.stem) for p in ARCHIVED]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no study of configs/study has an archive yet"))],
)
def test_the_committed_archive_gives_its_own_tables(study_file: Path, tmp_path: Path) -> None:
    """A fresh clone has no run folders: the tables come from the archive alone, and must be the ones
    committed beside it (the docs quote them)."""
    from srkit.study.runner import reference_label
    from srkit.study.tables import REFERENCE_RECORD, write_tables

    study, base = load_study(study_file)
    runs = plan_study(study, base)
    for run in runs:
        run.run_dir = tmp_path / run.label  # no run folder, as in a fresh clone
    archive = (base / study.archive).resolve()
    references = {
        r.name: archive / reference_label(r.name) / "eval.json"
        for r in study.eval.references
        if (archive / reference_label(r.name) / "eval.json").is_file()
    }
    for path in references.values():
        assert (path.parent / REFERENCE_RECORD).is_file()
    assert any(run.archived for run in runs)
    write_tables(study, runs, references)
    committed = json.loads((archive / "study.json").read_text())
    assert json.loads((tmp_path / "study.json").read_text()) == committed
    assert (tmp_path / "study.md").read_text() == (archive / "study.md").read_text()
