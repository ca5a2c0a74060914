"""Training on hostile input (issue 11): a tiny recipe of nested YAML aliases must be refused before it
costs gigabytes (checked under a memory cap), a full disk is one line naming the file, and
DistributedDataParallel works with the tiny recipes' bf16 + channels-last + EMA."""

from __future__ import annotations

import errno
import itertools
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import torch
import yaml

import srkit.io.atomic
import srkit.train.engine
import srkit.train.state
from srkit.archs import build_model
from srkit.cli import main
from srkit.errors import ConfigError
from srkit.train.config import load_config, parse_override, read_yaml
from srkit.train.config.loading import MAX_YAML_EXPANDED, safe_load_bounded
from srkit.train.engine import to_channels_last
from test_train_support import load_weights, subprocess_env, tiny_config, write_config

REPO = Path(__file__).resolve().parents[1]
#: Address-space cap for the subprocess that reads the hostile recipe: enough for Python + torch, far
#: below the gigabytes the expansion took.
MEMORY_CAP = 3 << 30


def billion_laughs(extends: Path) -> str:
    """A valid recipe (``extends`` a tiny one) whose ``num_feat`` is nine levels of nine-fold aliases:
    under 600 bytes, 9**9 (387 million) strings when expanded."""
    names = "abcdefghi"
    levels = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"&{cur} [" + ",".join([f"*{prev}"] * 9) + "]" for prev, cur in itertools.pairwise(names)]
    return (
        f"extends: {extends}\nmodel:\n  hparams:\n    num_feat: [\n      " + ",\n      ".join(levels) + "]\n"
    )


def run_capped(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter whose address space is capped at :data:`MEMORY_CAP`."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("srkit: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


# --------------------------------------------------------------------------------------------------
# Item 6: YAML alias expansion
# --------------------------------------------------------------------------------------------------


def test_billion_laughs_recipe_is_refused_under_a_memory_cap(tmp_path: Path) -> None:
    base = write_config(tmp_path / "tiny.yaml", tiny_config(tmp_path))
    recipe = tmp_path / "lol.yaml"
    recipe.write_text(billion_laughs(base), encoding="utf-8")
    assert recipe.stat().st_size < 600
    code = "import sys; from srkit.cli import main; sys.exit(main(['train', 'lol.yaml', '--out', 'run']))"
    proc = run_capped(code, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_one_line_error(proc.stderr, "lol.yaml", "aliases expand")
    assert not (tmp_path / "run").exists()


def test_billion_laughs_in_a_set_override_is_refused(tmp_path: Path) -> None:
    text = billion_laughs(tmp_path / "x.yaml").split("num_feat: ", 1)[1].replace("\n", " ")
    with pytest.raises(ConfigError, match=r"--set model\.hparams\.num_feat: refused: its aliases expand"):
        parse_override(f"model.hparams.num_feat={text}")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
        ("x: " + "[" * 150 + "]" * 150 + "\n", "nested more than 100 levels"),
        ("a: &a [*a]\nname: r\n", "recursive"),
        ("a: &a [1, 2]\nb: &b [*a, *a]\n" + "c: [" + ", ".join(["*b"] * 150_000) + "]\n", "expand"),
    ],
)
def test_hostile_yaml_shapes_are_one_line_errors(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle) as info:
        read_yaml(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_oversized_and_binary_recipes_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * (2 << 20) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than"):
        read_yaml(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_yaml(binary)


def test_every_shipped_recipe_reads_as_plain_yaml_does() -> None:
    recipes = sorted((REPO / "configs").rglob("*.yaml"))
    assert len(recipes) > 10
    for path in recipes:
        assert read_yaml(path) == (yaml.safe_load(path.read_text(encoding="utf-8")) or {}), path
    # aliases that expand to a sane size are fine, merge keys included
    assert safe_load_bounded("a: &a {x: 1}\nb: {<<: *a, y: 2}\nc: [*a, *a]\n") == {
        "a": {"x": 1},
        "b": {"x": 1, "y": 2},
        "c": [{"x": 1}, {"x": 1}],
    }
    wide = "a: &a [" + ", ".join(["1"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    assert len(safe_load_bounded(wide)["b"]) == 100  # ~100k nodes: under MAX_YAML_EXPANDED
    assert MAX_YAML_EXPANDED > 100 * 1000 * 2


# --------------------------------------------------------------------------------------------------
# Item 11: a full disk
# --------------------------------------------------------------------------------------------------


def _train(tmp_path: Path, capsys: pytest.CaptureFixture[str], **train: object) -> tuple[int, str]:
    data = tiny_config(
        tmp_path, data={"val": {"datasets": []}}, train={"steps": 2, "checkpoint_every": 2, **train}
    )
    config = write_config(tmp_path / "tiny.yaml", data)
    code = main(["train", str(config), "--out", str(tmp_path / "run")])
    return code, capsys.readouterr().err


def test_full_disk_writing_the_config_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: object, text: str) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(srkit.train.engine, "atomic_write_text", full)
    code, err = _train(tmp_path, capsys)
    assert code == 2
    assert_one_line_error(err, str(tmp_path / "run" / "config.yaml"), "No space left", "the disk may be full")


def test_torch_save_short_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def short(obj: object, handle: object) -> None:  # what torch.save raises when the disk fills mid-file
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 110528 vs 110428")

    monkeypatch.setattr(srkit.train.state.torch, "save", short)
    code, err = _train(tmp_path, capsys)
    assert code == 2
    assert_one_line_error(err, str(tmp_path / "run" / "state.pt"), "unexpected pos", "the disk may be full")
    assert not list((tmp_path / "run").glob(".state.pt*"))  # no temporary file left behind


def test_full_disk_on_the_state_the_weights_and_the_log_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = srkit.io.atomic.atomic_open

    def failing(name: str):  # atomic_open that fails at the first write of files called ``name``
        def opener(path: str | Path, mode: str = "w", **kwargs: object):
            if Path(path).name != name:
                return real_open(path, mode, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return opener

    monkeypatch.setattr(srkit.train.state, "atomic_open", failing("state.pt"))
    code, err = _train(tmp_path / "a", capsys)
    assert code == 2
    assert_one_line_error(err, "state.pt: cannot write the training state", "the disk may be full")

    monkeypatch.undo()
    monkeypatch.setattr(srkit.io.atomic, "atomic_open", failing("latest.safetensors"))
    code, err = _train(tmp_path / "b", capsys)
    assert code == 2
    assert_one_line_error(err, "latest.safetensors: cannot write weights", "the disk may be full")

    monkeypatch.undo()

    class FullFile:
        """A log file on a full disk: every flush fails."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        close = flush

    real_path_open = Path.open

    def path_open(self: Path, mode: str = "r", *args: object, **kwargs: object):
        if self.name == "log.jsonl" and "a" in mode:
            return FullFile()
        return real_path_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", path_open)
    code, err = _train(tmp_path / "c", capsys, log_every=1)
    assert code == 2
    assert_one_line_error(err, "log.jsonl: cannot write the training log", "the disk may be full")


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@pytest.mark.slow
def test_training_on_small_tmpfs_disks_fails_in_one_line(tmp_path: Path) -> None:
    """Real full disks (tmpfs of a few sizes, root only): every run ends either complete or with one line
    naming a file of the run folder -- never a traceback."""
    config = write_config(
        tmp_path / "tiny.yaml",
        tiny_config(tmp_path, train={"steps": 2, "checkpoint_every": 2, "log_every": 1}),
    )
    seen = set()
    for size in ("4k", "40k", "100k", "150k"):
        disk = tmp_path / f"disk_{size}_{uuid.uuid4().hex[:6]}"
        if not _mount_tmpfs(disk, size):
            pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
        try:
            if size == "4k":  # a disk already full: the run folder's first file fails
                (disk / "fill").write_bytes(b"\0" * 4096)
            proc = subprocess.run(
                [sys.executable, "-m", "srkit", "train", str(config), "--out", str(disk / "run")],
                cwd=tmp_path,
                env=subprocess_env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)
        assert "Traceback" not in proc.stderr, (size, proc.stderr[-3000:])
        if proc.returncode == 0:
            continue
        assert proc.returncode == 2, (size, proc.stderr[-3000:])
        assert_one_line_error(proc.stderr, str(disk / "run"), "the disk may be full")
        seen.add(proc.stderr.split(": cannot write", 1)[0].rsplit("/", 1)[-1])
    assert len(seen) >= 2, seen  # different files failed on different disk sizes


# --------------------------------------------------------------------------------------------------
# Item 12: DistributedDataParallel with bf16 + channels-last + EMA
# --------------------------------------------------------------------------------------------------


def test_channels_last_keeps_ambiguous_buffers_in_standard_strides() -> None:
    """EDSR's (1, 3, 1, 1) mean is contiguous in both formats; DDP's buffer broadcast copies it back
    through a flat view, which PyTorch refuses unless the strides are the standard ones."""
    model = to_channels_last(build_model("edsr", scale=2, num_feat=8, num_block=1))
    assert model.mean.stride() == (3, 1, 1, 1)
    assert model.conv_first.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.conv_first.weight.is_contiguous()
    assert "mean" not in model.state_dict()  # still the non-persistent buffer it was
    assert dict(model.named_buffers())["mean"] is model.mean


def test_channels_last_gives_the_same_numbers() -> None:
    """Standard strides on the size-1 dimensions of the buffer change no arithmetic: forward and backward
    equal those of the plain ``.to(memory_format=channels_last)`` bit for bit (bf16 autocast)."""
    torch.manual_seed(0)
    plain = build_model("edsr", scale=2, num_feat=8, num_block=1).to(memory_format=torch.channels_last)
    moved = to_channels_last(build_model("edsr", scale=2, num_feat=8, num_block=1))
    moved.load_state_dict(plain.state_dict())
    assert plain.mean.stride() != moved.mean.stride()
    x = torch.rand(2, 3, 12, 10).contiguous(memory_format=torch.channels_last)
    outputs = []
    for model in (plain, moved):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        out.float().square().mean().backward()
        outputs.append((out, [p.grad for p in model.parameters()]))
    (a, grads_a), (b, grads_b) = outputs
    assert torch.equal(a, b)
    assert all(torch.equal(g, h) for g, h in zip(grads_a, grads_b, strict=True))


TWO_RANK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from srkit.archs import build_model
    from srkit.train.engine import to_channels_last

    dist.init_process_group("gloo", rank=int(sys.argv[1]), world_size=2, init_method=sys.argv[2])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = to_channels_last(build_model("edsr", scale=2, num_feat=8, num_block=1))
    ddp = DistributedDataParallel(model)
    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ddp(x)
    out.float().mean().backward()
    print("ok", dist.get_rank(), flush=True)
    dist.destroy_process_group()
    """
)


def test_ddp_forward_with_channels_last_buffers(tmp_path: Path) -> None:
    """The broadcast of the buffers before a DDP forward (2 gloo processes), without the training loop."""
    script = tmp_path / "two_ranks.py"
    script.write_text(TWO_RANK_SCRIPT, encoding="utf-8")
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), init],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for rank, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0 and f"ok {rank}" in out, err[-3000:]


@pytest.mark.slow
def test_torchrun_bf16_channels_last_ema_trains(tmp_path: Path) -> None:
    """The tiny recipes' settings (bf16, channels-last, EMA) under ``torchrun --nproc_per_node=2``."""
    steps = 4
    data = tiny_config(
        tmp_path,
        data={"val": {"every": steps}},
        train={
            "steps": steps,
            "checkpoint_every": steps,
            "log_every": 2,
            "ema_decay": 0.9,
            "precision": "bf16",
            "channels_last": True,
        },
    )
    config = write_config(tmp_path / "tiny.yaml", data)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [
        "-m",
        "srkit",
        "train",
        str(config),
        "--out",
        str(tmp_path / "ddp"),
        "--set",
        "train.threads=1",
    ]
    proc = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "2 process(es) on cpu, precision bf16" in proc.stdout
    weights = load_weights(tmp_path / "ddp" / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())
    logs = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text("utf-8").splitlines()]
    assert [r["step"] for r in logs if r["kind"] == "train"] == [2, 4]
    assert load_config(tmp_path / "ddp" / "config.yaml").train.channels_last
