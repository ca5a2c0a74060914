"""``srkit upscale`` never loses, mixes or half-writes an output, and its failures stay one line (issue 11:
unreadable folders, symlink loops, unprintable names and closed pipes, provenance and --overwrite, racing
runs, signals and stale temporary files, symlink outputs and long paths)."""

from __future__ import annotations

import dataclasses
import errno
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from srkit.cli import main
from srkit.infer.upscale import TileSize, _reason, plan_jobs, run_upscale
from srkit.infer.upscalers import load_upscaler
from srkit.io import atomic, read_image, write_image
from srkit.io.atomic import NotReplacedError, atomic_write_bytes, remove_stale_temporaries
from srkit.io.images.encode import read_provenance

FAST = ["--model", "bicubic", "--scale", "2"]
SRKIT = [sys.executable, "-m", "srkit"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _image(path: Path, seed: int = 0, shape: tuple[int, ...] = (8, 8, 3), dtype: type = np.uint8) -> Path:
    rng = np.random.default_rng(seed)
    return write_image(path, rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True))


def _upscale(*args: str) -> int:
    return main(["upscale", *args, *FAST])


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _one_line_failures(err: str) -> list[str]:
    """The failure lines of ``srkit upscale``'s stderr, checking that nothing else (a traceback) is there."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and lines[0].startswith("srkit: ") and lines[0].endswith("input(s) failed:"), err
    assert all(line.startswith("  ") for line in lines[1:]), err
    return [line.strip() for line in lines[1:]]


# --------------------------------------------------------------------------------------------------
# Unreadable folders (7), symlink loops (8)
# --------------------------------------------------------------------------------------------------

CAPSH = "/usr/sbin/capsh"
DROP = "--drop=cap_dac_override,cap_dac_read_search"


@pytest.fixture
def unprivileged(tmp_path: Path):
    """Run srkit without the capabilities that let root read any folder (tests run as root); skipped
    where capsh cannot drop them."""
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    try:
        works = subprocess.run([CAPSH, DROP, "--", "-c", "true"], capture_output=True, timeout=60)
        blocked = subprocess.run(
            [CAPSH, DROP, "--", "-c", f"ls {shlex.quote(str(probe))}"], capture_output=True, timeout=60
        )
    except OSError:
        pytest.skip("capsh is not available")
    finally:
        probe.rmdir()
    if works.returncode != 0 or blocked.returncode == 0:
        pytest.skip("capsh cannot drop the capabilities that override file permissions here")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = shlex.join([*SRKIT, "upscale", *args, *FAST])
        return subprocess.run(
            [CAPSH, DROP, "--", "-c", command], capture_output=True, text=True, timeout=300, env=ENV
        )

    return run


def test_unreadable_folders_are_reported_in_one_line(tmp_path: Path, unprivileged) -> None:
    locked, photos = tmp_path / "locked", tmp_path / "photos"
    _image(locked / "d.png")
    _image(photos / "a.png")
    _image(photos / "sub" / "c.png")
    for folder in (locked, photos / "sub"):
        folder.chmod(0)
    try:
        # A folder, a file in it and a pattern in it: three one-line failures, not a traceback.
        run = unprivileged(str(locked), str(locked / "d.png"), str(locked / "*.png"))
        assert run.returncode == 1
        assert sorted(_one_line_failures(run.stderr)) == [
            f"{locked / '*.png'}: cannot read the folder {locked} (permission denied)",
            f"{locked / 'd.png'}: cannot access (permission denied)",
            f"{locked}: cannot read this folder (permission denied)",
        ]
        # --recursive reports the unreadable sub-folder instead of skipping it silently.
        run = unprivileged(str(photos), "--recursive")
        assert run.returncode == 1 and "upscaled 1, skipped 0, failed 1" in run.stdout
        assert _one_line_failures(run.stderr) == [
            f"{photos / 'sub'}: cannot read this folder (permission denied)"
        ]
        assert read_image(photos / "a_x2.png").width == 16
        # An output folder that cannot be entered.
        run = unprivileged(str(photos / "a.png"), "-o", str(locked / "out"), "--overwrite")
        assert run.returncode == 1
        assert _one_line_failures(run.stderr) == [
            f"{photos / 'a.png'}: cannot use the output folder {locked / 'out'} (permission denied)"
        ]
    finally:
        for folder in (locked, photos / "sub"):
            folder.chmod(0o755)


def test_symlink_loops_are_one_line_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _image(tmp_path / "a.png")
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    assert _upscale(str(a), "-o", str(loop)) == 1
    assert _one_line_failures(capsys.readouterr().err) == [
        f"{a}: cannot use the output folder {loop} (symlink loop)"
    ]
    (tmp_path / "a_x2.png").symlink_to("a_x2.png")
    assert _upscale(str(a), "--overwrite") == 1
    assert _one_line_failures(capsys.readouterr().err) == [
        f"{a}: cannot use the output {tmp_path / 'a_x2.png'} (symlink loop)"
    ]
    # A looping image entry in a scanned folder is a failed input; the other files are upscaled.
    folder = tmp_path / "pics"
    _image(folder / "b.png")
    (folder / "c.png").symlink_to("c.png")
    assert _upscale(str(folder)) == 1
    assert _one_line_failures(capsys.readouterr().err) == [
        f"{folder / 'c.png'}: cannot access (symlink loop)"
    ]
    assert (folder / "b_x2.png").is_file()


# --------------------------------------------------------------------------------------------------
# Printing (9): names the console cannot encode, a closed stdout
# --------------------------------------------------------------------------------------------------


def test_names_the_console_cannot_print_do_not_stop_the_batch(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    names = [b"a\xff.png", b"b.png", b"c\xfe.png"]
    for i, name in enumerate(names):
        _image(Path(os.fsdecode(bytes(folder) + b"/" + name)), seed=i)
    run = subprocess.run(
        [*SRKIT, "upscale", str(folder), *FAST],
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "PYTHONIOENCODING": "utf-8"},
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "upscaled 3, skipped 0, failed 0" in run.stdout
    assert "a\\udcff_x2.png" in run.stdout
    for name in names:
        stem, suffix = os.path.splitext(name)
        assert read_image(Path(os.fsdecode(bytes(folder) + b"/" + stem + b"_x2" + suffix))).width == 16


def test_a_closed_stdout_ends_the_run_quietly_without_partial_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    for i in range(4):
        _image(folder / f"p{i}.png", seed=i)
    with subprocess.Popen(
        [*SRKIT, "upscale", str(folder), *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -0`: the first line printed finds no reader
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=300)
    assert status == 141 and err == ""
    outputs = sorted(folder.glob("*_x2.png"))
    assert outputs and not _temps(folder)
    for path in outputs:
        assert read_image(path).width == 16  # complete files only


# --------------------------------------------------------------------------------------------------
# Provenance (13): only srkit's own outputs are replaced; a folder can be its own output folder
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dtype", "channels"),
    [
        ("a.png", np.uint8, 3),
        ("a.png", np.uint16, 4),
        ("a.jpg", np.uint8, 3),
        ("a.webp", np.uint8, 4),
        ("a.tif", np.uint8, 1),
        ("a.tif", np.uint16, 3),
    ],
)
def test_outputs_carry_the_provenance_marker(tmp_path: Path, name: str, dtype: type, channels: int) -> None:
    source = _image(tmp_path / name, shape=(8, 8, channels), dtype=dtype)
    assert _upscale(str(source)) == 0
    output = tmp_path / f"a_x2{source.suffix}"
    marker = read_provenance(output)
    assert marker is not None and marker["source"] == name and marker["model"] == "bicubic"
    assert marker["scale"] == "2" and marker["version"]
    assert read_provenance(source) is None
    # The marker is metadata only: the same pixels, depth and metadata as without it.
    rng = np.random.default_rng(3)
    data = rng.integers(0, np.iinfo(dtype).max, (9, 7, channels), dtype=dtype, endpoint=True)
    exif = PILImage.Exif()
    exif[0x0131] = "srkit test"  # Software
    kwargs = {"dpi": (150.0, 150.0), "exif": exif.tobytes()}
    marked = read_image(
        write_image(tmp_path / f"m{source.suffix}", data, provenance={"source": "s"}, **kwargs)
    )
    plain = read_image(write_image(tmp_path / f"p{source.suffix}", data, **kwargs))
    np.testing.assert_array_equal(marked.pixels.numpy(), plain.pixels.numpy())
    assert dataclasses.replace(marked.info, path=plain.info.path) == plain.info


def test_marker_survives_odd_names_and_bmp_has_none(tmp_path: Path) -> None:
    odd = os.fsdecode(b'q\xff"<&>\n.png')
    target = write_image(tmp_path / "m.png", np.zeros((4, 4, 3), np.uint8), provenance={"source": odd})
    marker = read_provenance(target)
    assert marker is not None and marker["source"] == 'q\\xff"<&>\\x0a.png'
    bmp = write_image(tmp_path / "m.bmp", np.zeros((4, 4, 3), np.uint8), provenance={"source": "x"})
    assert read_provenance(bmp) is None
    (tmp_path / "fifo.png").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "fifo.png")
    assert read_provenance(tmp_path / "fifo.png") is None  # no hang
    assert read_provenance(tmp_path / "missing.png") is None


def test_overwrite_never_replaces_a_users_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    _image(folder / "a.png")
    mine = _image(folder / "a_x2.png", seed=7)  # the user's own picture, named like an output
    before = mine.read_bytes()
    assert _upscale(str(folder), "--overwrite") == 1
    assert mine.read_bytes() == before
    lines = _one_line_failures(capsys.readouterr().err)
    assert lines == [f"{folder / 'a.png'}: output {mine} exists and was not written by srkit; not replaced"]
    assert _upscale(str(folder)) == 0  # without --overwrite: kept, said so, not a failure
    assert f"{mine} exists and was not written by srkit (kept)" in capsys.readouterr().out
    assert mine.read_bytes() == before and not (folder / "a_x2_x2.png").exists()


@pytest.mark.parametrize("out", ["photos", "."])
def test_a_folder_can_be_its_own_output_folder(
    tmp_path: Path, out: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    _image(folder / "a.png")
    _image(folder / "b.jpg", seed=1)
    monkeypatch.chdir(tmp_path if out == "photos" else folder)
    source = "photos" if out == "photos" else "."
    assert _upscale(source, "-o", out) == 0
    assert "upscaled 2, skipped 0, failed 0" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x2.png", "b.jpg", "b_x2.jpg"]
    assert _upscale(source, "-o", out) == 0
    assert "upscaled 0, skipped 2, failed 0" in capsys.readouterr().out
    assert _upscale(source, "-o", out, "--overwrite") == 0
    assert "upscaled 2, skipped 0, failed 0" in capsys.readouterr().out
    # Outputs are recognised by their marker, not only by name: renamed, or of another scale.
    (folder / "a_x2.png").rename(folder / "holiday.png")
    assert main(["upscale", source, "-o", out, "--model", "bicubic", "--scale", "3"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.png",
        "a_x3.png",
        "b.jpg",
        "b_x2.jpg",
        "b_x3.jpg",
        "holiday.png",
    ]
    assert _upscale(os.path.join(source, "holiday.png")) == 0  # named explicitly: always taken
    assert (folder / "holiday_x2.png").is_file()


# --------------------------------------------------------------------------------------------------
# Racing runs (14): the check is repeated at the rename
# --------------------------------------------------------------------------------------------------


def _race(target: Path, writers: int = 4) -> tuple[list[int], list[int]]:
    """``writers`` threads write ``target`` without replacing, released at once: (winners, losers)."""
    barrier = threading.Barrier(writers)
    won: list[int] = []
    lost: list[int] = []

    def write(i: int) -> None:
        barrier.wait()
        try:
            atomic_write_bytes(target, f"writer {i}".encode(), overwrite=False)
        except NotReplacedError:
            lost.append(i)
        else:
            won.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


@pytest.mark.parametrize("hard_links", [True, False])
def test_no_replace_writes_race_safely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    if not hard_links:

        def no_link(*args: object, **kwargs: object) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(atomic.os, "link", no_link)
    for round_ in range(20):
        target = tmp_path / f"out{round_}.bin"
        won, lost = _race(target)
        assert len(won) == 1 and len(lost) == 3
        assert target.read_bytes() == f"writer {won[0]}".encode()
    assert not _temps(tmp_path)
    target = tmp_path / "dangling.bin"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(NotReplacedError):
        atomic_write_bytes(target, b"x", overwrite=False)
    assert target.is_symlink() and not (tmp_path / "nowhere").exists()


def test_two_runs_on_one_folder_keep_each_others_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    _image(folder / "a.png")
    upscaler = load_upscaler("bicubic", device="cpu")

    # Both runs plan before either writes (the output is not there yet for either).
    first = plan_jobs([str(folder)], scale=2)
    second = plan_jobs([str(folder)], scale=2)
    assert run_upscale(first, upscaler, 2, tiles=TileSize(0)).written
    written = (folder / "a_x2.png").read_bytes()
    result = run_upscale(second, upscaler, 3, tiles=TileSize(0))  # would write a 24x24 image
    assert not result.written and not result.failed and len(result.skipped) == 1
    assert "was written meanwhile (another run?); kept" in capsys.readouterr().out
    assert (folder / "a_x2.png").read_bytes() == written
    # With --overwrite, a user's file that appears after planning is still not replaced.
    (folder / "a_x2.png").unlink()
    third = plan_jobs([str(folder)], scale=2, overwrite=True)
    _image(folder / "a_x2.png", seed=5)
    mine = (folder / "a_x2.png").read_bytes()
    result = run_upscale(third, upscaler, 2, tiles=TileSize(0))
    assert result.failed and "exists and was not written by srkit; not replaced" in result.failed[0][1]
    assert (folder / "a_x2.png").read_bytes() == mine and not _temps(folder)


# --------------------------------------------------------------------------------------------------
# Signals and stale temporary files (15)
# --------------------------------------------------------------------------------------------------

_SLOW_WRITE = """
import sys, time
from pathlib import Path
import srkit.io.images.encode as encode
from srkit.cli import main

def slow(fp, *args):
    fp.write(b"partial")
    fp.flush()
    Path(sys.argv[1]).touch()  # the temporary file exists now
    time.sleep(120)

encode._save_pillow = slow
sys.exit(main(["upscale", *sys.argv[2:]]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path: Path, signum: int) -> None:
    folder = tmp_path / "pics"
    source = _image(folder / "a.png")
    ready = tmp_path / "ready"
    script = tmp_path / "slow.py"
    script.write_text(_SLOW_WRITE)

    def default_handlers() -> None:  # not ignored even when the tests run under nohup
        signal.signal(signum, signal.SIG_DFL)

    command = [sys.executable, str(script), str(ready), str(source), *FAST]
    with subprocess.Popen(command, env=ENV, preexec_fn=default_handlers) as proc:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert _temps(folder)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == -signum  # ended by the signal, as without the handler
    assert not _temps(folder) and not (folder / "a_x2.png").exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    before = atomic._STARTED - 60  # before this process started
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # started after that
    try:
        names = {
            "dead": f".a_x2.png.srkit.{_dead_pid()}.abcd1234.tmp",
            "reused": f".state.pt.srkit.{later.pid}.abcd1234.tmp",  # its pid now names a newer process
            "live": f".best.safetensors.srkit.{os.getppid()}.abcd1234.tmp",
            "own": f".b_x2.png.srkit.{os.getpid()}.abcd1234.tmp",
            "foreign": ".a_x2.png.abcd1234.tmp",
            "user": "a.srkit.1.abcd1234.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
            os.utime(tmp_path / name, (before, before))
        # The parent process is alive and started before this one: written by it just before we started.
        just_before = atomic._STARTED - 0.5
        os.utime(tmp_path / names["live"], (just_before, just_before))
        fresh = f".c_x2.png.srkit.{_dead_pid()}.abcd1234.tmp"
        (tmp_path / fresh).write_bytes(b"partial")  # newer than this process: not touched
        (tmp_path / f".d.png.srkit.{_dead_pid()}.abcd1234.tmp").symlink_to(tmp_path / names["user"])
        removed = sorted(p.name for p in remove_stale_temporaries(tmp_path))
    finally:
        later.kill()
        later.wait()
    assert removed == sorted([names["dead"], names["reused"]])
    left = {p.name for p in tmp_path.iterdir()}
    assert {names["live"], names["own"], names["foreign"], names["user"], fresh} <= left
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_srkit_upscale_removes_stale_temporaries_of_its_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _image(tmp_path / "a.png")
    stale = tmp_path / "out" / f".a_x2.png.srkit.{_dead_pid()}.k2j3h4g5.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"partial")
    os.utime(stale, (atomic._STARTED - 60, atomic._STARTED - 60))
    assert _upscale(str(source), "-o", str(tmp_path / "out")) == 0
    assert not stale.exists() and (tmp_path / "out" / "a_x2.png").is_file()
    assert (
        f"removed 1 temporary file(s) an interrupted run left in {tmp_path / 'out'}"
        in capsys.readouterr().out
    )


# --------------------------------------------------------------------------------------------------
# Symlink outputs, modes, long paths (16)
# --------------------------------------------------------------------------------------------------


def test_overwriting_never_carries_setuid_and_replaces_a_symlink_not_its_target(tmp_path: Path) -> None:
    a = _image(tmp_path / "a.png")
    assert _upscale(str(a)) == 0
    output = tmp_path / "a_x2.png"
    output.chmod(0o4755)
    assert _upscale(str(a), "--overwrite") == 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o755  # permissions kept, setuid not
    # A symlink to an srkit output elsewhere: the link is replaced, the file it points to stays.
    elsewhere = tmp_path / "elsewhere" / "real.png"
    elsewhere.parent.mkdir()
    os.replace(output, elsewhere)
    elsewhere.chmod(0o6755)
    kept = elsewhere.read_bytes()
    output.symlink_to(elsewhere)
    assert _upscale(str(a), "--overwrite") == 0
    assert not output.is_symlink() and stat.S_IMODE(output.stat().st_mode) & 0o7000 == 0
    assert elsewhere.read_bytes() == kept and stat.S_IMODE(elsewhere.stat().st_mode) == 0o6755
    # A symlink to a file srkit did not write is not replaced.
    output.unlink()
    output.symlink_to(_image(tmp_path / "elsewhere" / "mine.png", seed=2))
    assert _upscale(str(a), "--overwrite") == 1
    assert output.is_symlink()


def test_long_names_are_written_and_reasons_are_never_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / ("d" * 120)
    fits = _image(folder / ("n" * 245 + ".png"))  # output name: 252 bytes, the temporary's is longer
    too_long = _image(folder / ("m" * 250 + ".png"), seed=1)  # output name: 257 bytes
    assert _upscale(str(fits), str(too_long)) == 1
    assert read_image(folder / ("n" * 245 + "_x2.png")).width == 16
    lines = _one_line_failures(capsys.readouterr().err)
    assert lines == [f"{too_long}: the output name {'m' * 250}_x2.png is longer than 255 bytes"]
    source = tmp_path / "s.png"
    long_path = "/" + "x" * 300 + "/y.png"
    assert _reason(OSError(errno.EACCES, "Permission denied", long_path), source) == (
        f"permission denied ({long_path})"
    )
    assert _reason(ValueError("v" * 1000), source).endswith("...")  # only foreign exception texts are cut


def test_srkit_train_removes_stale_temporaries_of_its_run_folder(tmp_path: Path) -> None:
    """A run killed while saving (SIGKILL) leaves ``.state.pt.srkit.<pid>.*.tmp``; the next run in that
    folder removes it (and those in ``checkpoints/``) before it starts."""
    from srkit.train.config import build_config
    from srkit.train.engine import train
    from test_train_support import tiny_config

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stale = [
        run / f".state.pt.srkit.{_dead_pid()}.k2j3h4g5.tmp",
        run / f".best.safetensors.srkit.{_dead_pid()}.a1b2c3d4.tmp",
        run / "checkpoints" / f".step_10.safetensors.srkit.{_dead_pid()}.e5f6a7b8.tmp",
    ]
    for path in stale:
        path.write_bytes(b"partial")
        os.utime(path, (atomic._STARTED - 60, atomic._STARTED - 60))
    train(build_config(tiny_config(tmp_path, train={"steps": 2})), run_dir=run)
    assert not any(p.exists() for p in stale) and (run / "model.safetensors").is_file()
