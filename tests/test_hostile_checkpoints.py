"""Hostile checkpoints (issue 11, items 2-5): a small file must never cost gigabytes or hang, and weights
that would give black, white or grey images are refused; each failure is one line naming the file.

- metadata that decides allocations: hyper-parameters checked against the tensors on the ``meta``
  device before the network is built; nested or huge metadata JSON;
- special files as ``--model`` (FIFO, ``/dev/zero``, ``/dev/urandom``) and unreadable files;
- zip and pickle bombs in ``.pth`` files, checked from the zip's central directory before inflating;
- non-finite and non-floating-point weights, refused on loading and by ``srkit convert``.

The resource cases run in one child process whose address space is capped (what it uses after importing
srkit plus :data:`HEADROOM`) and which has a timeout: a regression fails (MemoryError, a traceback or the
timeout) instead of swapping or hanging.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import pickletools
import shlex
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from srkit.archs import ARCH_ENTRIES, build_model, load_network, register_arch, save_weights, unregister_arch
from srkit.archs.contract import NetInfo, SRNet
from srkit.archs.loading import build_and_load, load_any_model
from srkit.cli import main
from srkit.errors import SrkitError
from srkit.io import safe_load
from srkit.io.files import check_file
from srkit.io.safe_load import check_torch_file, is_safetensors_file, pickled_globals, read_checkpoint

MIB = 1 << 20
GIB = 1 << 30
#: Address space the capped child may use beyond what importing srkit took: less than one bomb inflates.
HEADROOM = 768 * MIB


def _tiny_edsr(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("edsr", num_feat=8, num_block=1, scale=2)


def _srkit_file(path: Path, *, state: dict[str, torch.Tensor] | None = None, **meta: str) -> Path:
    """A tiny EDSR srkit weight file with ``state`` instead of its tensors and ``meta`` replacing (JSON
    text) metadata entries."""
    model = _tiny_edsr()
    save_weights(path, model)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        metadata = dict(f.metadata())
    tensors = state if state is not None else {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={**metadata, **meta})
    return path


def _hparams(**override: Any) -> str:
    return json.dumps({**_tiny_edsr().hparams, **override})


# --------------------------------------------------------------------------------------------------
# Building zip files by hand: deflate bombs without deflating gigabytes
# --------------------------------------------------------------------------------------------------


def _deflated(head: bytes, chunk: bytes, count: int, tail: bytes) -> tuple[bytes, int, int]:
    """``(raw deflate stream, crc32, size)`` of ``head + chunk * count + tail``, built from the chunk
    compressed once (a full flush makes each block byte-aligned and independent, so it repeats)."""

    def part(data: bytes, final: bool) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    stream = part(head, False) + part(chunk, False) * count + part(tail, True)
    return stream, crc, len(head) + len(chunk) * count + len(tail)


Member = tuple[str, "bytes | tuple[bytes, bytes, int, bytes]"]


def _write_zip(path: Path, members: list[Member]) -> Path:
    """A zip of ``members``: bytes are stored, ``(head, chunk, count, tail)`` are deflated."""
    out, central = bytearray(), bytearray()
    for name, data in members:
        if isinstance(data, bytes):
            method, body, crc, size = 0, data, zlib.crc32(data), len(data)
        else:
            method = 8
            body, crc, size = _deflated(*data)
        raw = name.encode()
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(body), size, len(raw), 0
        )
        out += raw + body
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            len(body),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += raw
    start = len(out)
    out += central + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
    )
    path.write_bytes(bytes(out))
    return path


class _Storage:
    pass


class _Tensor:
    """Pickles as PyTorch pickles a float32 tensor of ``n`` values in storage record ``0``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self) -> tuple[Any, ...]:
        args = (_Storage(), 0, (self.n,), (1,), False, collections.OrderedDict())
        return (torch._utils._rebuild_tensor_v2, args)


def _data_pkl(n: int) -> bytes:
    """``data.pkl`` of ``{'w': <float32 tensor of n values>}``, as ``torch.save`` writes it."""
    buf = io.BytesIO()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return ("storage", torch.FloatStorage, "0", "cpu", n) if isinstance(obj, _Storage) else None

    Pickler(buf, protocol=2).dump({"w": _Tensor(n)})
    return buf.getvalue()


_TORCH_RECORDS: list[Member] = [("archive/byteorder", b"little"), ("archive/version", b"3\n")]


def _legacy_header() -> bytes:
    """The first three pickles of a legacy ``torch.save`` file (magic number, protocol, system info)."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    stream = io.BytesIO(data)
    for _ in range(3):
        pickle.load(stream)
    return data[: stream.tell()]


def test_hand_built_zip_is_a_torch_file(tmp_path: Path) -> None:
    """The hand-built zips are real PyTorch files: the small one loads; the bombs differ only in size."""
    path = _write_zip(
        tmp_path / "small.pth",
        [("archive/data.pkl", _data_pkl(4)), *_TORCH_RECORDS, ("archive/data/0", (b"", bytes(8), 2, b""))],
    )
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.zeros(4))
    with zipfile.ZipFile(path) as archive:
        assert archive.read("archive/data/0") == bytes(16)


# --------------------------------------------------------------------------------------------------
# The capped child: every resource case in one process, one JSON line each
# --------------------------------------------------------------------------------------------------

_CAPPED = r"""
import contextlib, io, json, resource, sys, time
status = open("/proc/self/status").read()
from srkit.archs import ARCH_ENTRIES, load_network
from srkit.archs.loading import _build
from srkit.cli import main
from srkit.io.safe_load import is_safetensors_file, pickled_globals
import torch
torch.set_num_threads(1)
vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
cap = vm + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
out = sys.argv[2]
for arg in sys.argv[3:]:
    how, path = arg.split(":", 1)
    err = io.StringIO()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err):
            if how == "convert":
                rc = main(["convert", path, out])
            elif how == "probe":  # the helpers that look into a file must not block or read forever
                rc = 0
                print(f"{is_safetensors_file(path)} {pickled_globals(path)}", file=sys.stderr)
            else:
                try:
                    load_network(path)
                    rc = 0
                except Exception as exc:
                    print(f"srkit: error: {exc}", file=sys.stderr)
                    rc = 2
    except BaseException as exc:
        rc, err = -1, io.StringIO(f"TRACEBACK {type(exc).__name__}: {exc}"[:500])
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    print(json.dumps({"arg": arg, "rc": rc, "err": err.getvalue(), "s": time.perf_counter() - start,
                      "kib": grown}), flush=True)
"""


def _cases(root: Path) -> dict[str, tuple[str, str]]:
    """``{name: (child argument, expected text of the one-line error)}``; builds the files in ``root``."""
    model = _tiny_edsr()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    files: dict[str, tuple[str, Path, str]] = {}

    def add(name: str, how: str, path: Path, needle: str) -> None:
        files[name] = (how, path, needle)

    # Item 2: metadata that decides allocations, nested or huge metadata JSON.
    add(
        "num_feat",
        "convert",
        _srkit_file(root / "feat.safetensors", hparams=_hparams(num_feat=20000)),
        "'conv_first.weight' has shape (8, 3, 3, 3), the network expects (20000, 3, 3, 3)",
    )
    add(
        "num_block",
        "convert",
        _srkit_file(root / "block.safetensors", hparams=_hparams(num_block=1_000_000)),
        "describe a far larger network than the 12 tensors in the file",
    )
    add(
        "huge_hparams",
        "convert",
        _srkit_file(root / "huge.safetensors", hparams="[" * 100_000),
        "hparams is 100000 characters (at most 65536)",
    )
    add(
        "recursion",
        "load",
        _srkit_file(root / "recursion.safetensors", extra="[" * 50_000),
        "corrupt srkit metadata: extra nests too deeply",
    )
    add(
        "depth",
        "convert",
        _srkit_file(root / "depth.safetensors", hparams='{"num_feat": ' + "[" * 100 + "]" * 100 + "}"),
        "hparams nests more than 32 levels deep",
    )
    # Item 3: special files.
    fifo = root / "fifo.pth"
    os.mkfifo(fifo)
    add("fifo", "convert", fifo, "not a regular file: a FIFO (named pipe)")
    add("fifo_named", "load", fifo, "not a regular file: a FIFO (named pipe)")
    zero = root / "zero.pth"
    zero.symlink_to("/dev/zero")
    add("dev_zero", "convert", zero, "not a regular file: a character device")
    add("dev_zero_bare", "load", Path("/dev/zero"), "not a regular file: a character device")
    urandom = root / "urandom.safetensors"
    urandom.symlink_to("/dev/urandom")
    add("dev_urandom", "convert", urandom, "not a regular file: a character device")
    # Item 4: zip and pickle bombs.
    n = GIB // 4
    add(
        "record_bomb",  # a tensor record of 1 GiB of zeros, referenced by data.pkl: ~1 MB on disk
        "convert",
        _write_zip(
            root / "record_bomb.pth",
            [
                ("archive/data.pkl", _data_pkl(n)),
                *_TORCH_RECORDS,
                ("archive/data/0", (b"", bytes(MIB), 1024, b"")),
            ],
        ),
        "zip member 'archive/data/0' inflates 10",
    )
    add(
        "pickle_bomb",  # data.pkl inflating to 1 GiB of opcodes (NONE, POP, ...)
        "convert",
        _write_zip(
            root / "pickle_bomb.pth",
            [("archive/data.pkl", (b"\x80\x02", b"N0" * (MIB // 2), 1024, b"N.")), *_TORCH_RECORDS],
        ),
        "zip member 'archive/data.pkl' inflates",
    )
    add(
        "big_pickle",  # a stored data.pkl of 3 MiB (no compression to see through)
        "convert",
        _write_zip(
            root / "big_pickle.pth",
            [("archive/data.pkl", b"\x80\x02" + b"\x8f" * (3 * MIB) + b"."), *_TORCH_RECORDS],
        ),
        f"zip member 'archive/data.pkl' is a pickle of {3 * MIB + 3} bytes (at most 2097152)",
    )
    add(
        "many_members",  # 40 members of 1 MiB zeros each, under the per-member floor, 40 MiB in all
        "convert",
        _write_zip(
            root / "many.pth",
            [
                ("archive/data.pkl", _data_pkl(4)),
                *_TORCH_RECORDS,
                *((f"archive/data/{i}", (b"", bytes(MIB // 4), 4, b"")) for i in range(40)),
            ],
        ),
        f"its zip members declare {40 * MIB + len(_data_pkl(4)) + 8} bytes uncompressed",
    )
    legacy = root / "legacy_bomb.pth"
    legacy.write_bytes(_legacy_header() + b"\x80\x02" + b"\x8f" * (3 * MIB) + b".")
    add("legacy_pickle", "convert", legacy, "its pickles take more than 2097152 bytes")
    # Item 5: non-finite and non-floating-point weights.
    nan = {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    add(
        "nan",
        "convert",
        _srkit_file(root / "nan.safetensors", state=nan),
        "tensor 'conv_first.weight' holds 216 non-finite values (NaN or infinity) of 216",
    )
    one_inf = dict(state)
    one_inf["conv_last.bias"] = state["conv_last.bias"].clone()
    one_inf["conv_last.bias"][1] = float("inf")
    add(
        "inf",
        "load",
        _srkit_file(root / "inf.safetensors", state=one_inf),
        "'conv_last.bias' holds 1 non-finite",
    )
    add(
        "bool",
        "load",
        _srkit_file(root / "bool.safetensors", state={k: v > 0 for k, v in state.items()}),
        "tensor 'conv_first.weight' is bool, not floating-point weights",
    )
    add(
        "int8",
        "convert",
        _srkit_file(root / "int8.safetensors", state={k: v.to(torch.int8) for k, v in state.items()}),
        "tensor 'conv_first.weight' is int8, not floating-point weights",
    )
    torch.save({"params": nan}, root / "nan_basicsr_x2.pth")  # BasicSR's layout (srkit's EDSR keys)
    add("nan_third_party", "convert", root / "nan_basicsr_x2.pth", "(edsr-basicsr layout): tensor")
    return {name: (f"{how}:{path}", needle) for name, (how, path, needle) in files.items()}


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], str, Path]]:
    """Run every case in the capped child: ``{name: (result, expected text, output path)}``."""
    root = tmp_path_factory.mktemp("hostile")
    cases = _cases(root)
    probes = [f"probe:{root / 'fifo.pth'}", "probe:/dev/zero"]
    out = root / "out.safetensors"
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", _CAPPED, str(HEADROOM), str(out), *(a for a, _ in cases.values()), *probes]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["arg"]: r for r in map(json.loads, run.stdout.splitlines())}
    found = {name: (results[arg], needle, out) for name, (arg, needle) in cases.items()}
    for probe in probes:
        found[probe] = (results[probe], "False []", out)
    return found


CASES = [
    "num_feat",
    "num_block",
    "huge_hparams",
    "recursion",
    "depth",
    "fifo",
    "fifo_named",
    "dev_zero",
    "dev_zero_bare",
    "dev_urandom",
    "record_bomb",
    "pickle_bomb",
    "big_pickle",
    "many_members",
    "legacy_pickle",
    "nan",
    "inf",
    "bool",
    "int8",
    "nan_third_party",
]


@pytest.mark.parametrize("name", CASES)
def test_hostile_checkpoint_fails_in_one_line_within_the_cap(capped: dict, name: str) -> None:
    result, needle, out = capped[name]
    path = result["arg"].split(":", 1)[1]
    err = result["err"]
    assert result["rc"] == 2, result
    assert err.count("\n") == 1 and err.startswith(f"srkit: error: {path}"), err
    assert needle in err, (needle, err)
    assert result["kib"] < 256 * 1024, result  # no case costs more than a quarter of a GiB
    assert not out.exists()  # srkit convert wrote nothing


@pytest.mark.parametrize("probe", ["fifo.pth", "/dev/zero"])
def test_probing_special_files_neither_blocks_nor_reads(capped: dict, probe: str) -> None:
    """``is_safetensors_file`` and ``pickled_globals`` (the opcode scan) return at once on a FIFO or a
    device: before, ``zipfile.is_zipfile`` read ``/dev/zero`` until MemoryError."""
    ((result, needle, _),) = (v for k, v in capped.items() if k.startswith("probe:") and k.endswith(probe))
    assert result["rc"] == 0 and result["err"].strip() == needle, result


# --------------------------------------------------------------------------------------------------
# The bounds hold for real checkpoints
# --------------------------------------------------------------------------------------------------


def test_real_checkpoints_pass_the_zip_and_pickle_bounds_with_a_wide_margin(shared_weights: Path) -> None:
    """Every third-party checkpoint of ``$SRKIT_SHARED/weights`` passes :func:`check_torch_file` and
    reads; the measured sizes (see :mod:`srkit.io.safe_load`) stay 10x (ratio, pickle) and 4x (total)
    below the bounds."""
    files = sorted(shared_weights.rglob("*.pth"))
    assert len(files) >= 10
    for path in files:
        check_torch_file(path)
        size = path.stat().st_size
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
            total = sum(m.file_size for m in members)
            ratio = max(m.file_size / max(m.compress_size, 1) for m in members)
            pickle_size = next(m.file_size for m in members if m.filename.endswith("data.pkl"))
            assert total <= 1.1 * size, path
            assert ratio * 10 <= safe_load.MAX_MEMBER_RATIO, path
            assert total * 4 <= safe_load.MAX_INFLATION * size + safe_load.INFLATION_FLOOR, path
            assert len(members) * 100 <= safe_load.MAX_MEMBERS, path
        else:
            stream = io.BytesIO(path.read_bytes()[: safe_load.MAX_PICKLE_BYTES])
            for _ in range(5):
                assert list(pickletools.genops(stream))
            pickle_size = stream.tell()
        assert pickle_size * 10 <= safe_load.MAX_PICKLE_BYTES, path
        if path.name != "model_epoch_50.pth":  # the whole-module pickle, refused for its objects
            assert read_checkpoint(path)[0]


def test_shipped_models_metadata_is_within_the_bounds() -> None:
    """srkit's own weight files: metadata far below the bounds, and they load through the meta check."""
    from safetensors import safe_open

    from srkit.io.checkpoint import MAX_META_CHARS
    from srkit.models import WEIGHTS_DIR

    files = sorted(WEIGHTS_DIR.glob("*.safetensors"))
    if not files:
        pytest.skip("no shipped weights")
    for path in files:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata()
        for key, limit in MAX_META_CHARS.items():
            assert len(metadata[key]) * 10 <= limit, (path, key)
    assert load_network(files[0]).training is False


# --------------------------------------------------------------------------------------------------
# Meta builds: every family, the call budget, the fallback
# --------------------------------------------------------------------------------------------------


def _families() -> list[str]:
    return list(ARCH_ENTRIES)


def _layout(model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", _families())
def test_every_family_builds_on_the_meta_device_as_for_real(arch: str, tmp_path: Path) -> None:
    """The meta build (the hyper-parameter check) gives the real build's keys, shapes and dtypes, within
    the call budget that the real number of tensors allows, with the defaults and with the tiny
    setting of ``tests/test_model_seam.py``; a tiny network round-trips through build_and_load."""
    from srkit.archs.loading import _build
    from test_model_seam import TINY

    defaults = {"arch": arch, "hparams": {}}
    skeleton = _build("defaults", defaults, {}, meta=True)
    count = len(skeleton.state_dict())
    skeleton = _build("defaults", defaults, dict.fromkeys(map(str, range(count))), meta=True)
    assert all(p.is_meta for p in skeleton.parameters())
    if arch not in TINY:
        pytest.skip(f"{arch} has no tiny setting in tests/test_model_seam.py")
    torch.manual_seed(0)
    real = build_model(arch, **TINY[arch])
    spec = {"arch": arch, "hparams": dict(real.hparams)}
    assert _layout(_build("tiny", spec, real.state_dict(), meta=True)) == _layout(real)
    loaded = load_any_model(save_weights(tmp_path / f"{arch}.safetensors", real))
    for key, value in real.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_meta_builds_do_not_import_dynamo() -> None:
    """Weight initialisation is skipped on meta tensors and index tables are computed on the CPU: on the
    meta device both would go through PyTorch's Python reference ops, whose first use imports
    ``torch._dynamo`` (seconds on every load). A family that fails this uses another such op in its
    constructor (see ``_BuildBudget`` in ``srkit/archs/loading.py``)."""
    code = (
        "import sys, torch\n"
        "from srkit.archs import ARCH_ENTRIES\n"
        "from srkit.archs.loading import _build\n"
        "for arch in ARCH_ENTRIES:\n"
        "    _build(arch, {'arch': arch, 'hparams': {}}, {}, meta=True)\n"
        "    assert 'torch._dynamo' not in sys.modules, arch\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


class _ItemNet(SRNet):
    """A user network whose constructor reads a value (``float(tensor)``), which the meta device
    cannot: it is then built for real, within the call budget."""

    def __init__(self, scale: int = 2, width: int = 4) -> None:
        super().__init__()
        self.gain = float(torch.ones(1).sum())
        self.conv = torch.nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.shuffle = torch.nn.PixelShuffle(scale)
        self.width = width

    @classmethod
    def describe(cls, hparams: dict[str, Any]) -> NetInfo:
        return NetInfo("hostile-item-net", hparams["scale"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x)) * self.gain


def test_a_network_that_cannot_be_built_on_meta_is_built_for_real(tmp_path: Path) -> None:
    register_arch("hostile-item-net", _ItemNet)
    try:
        net = build_model("hostile-item-net")
        state = net.state_dict()
        loaded = build_and_load("item.safetensors", {"arch": "hostile-item-net", "hparams": {}}, state)
        assert torch.equal(loaded.conv.weight, net.conv.weight)
        nan = {**state, "conv.bias": torch.full_like(state["conv.bias"], float("nan"))}
        with pytest.raises(SrkitError, match=r"item.safetensors: tensor 'conv.bias' holds 12 non-finite"):
            build_and_load("item.safetensors", {"arch": "hostile-item-net", "hparams": {}}, nan)
    finally:
        unregister_arch("hostile-item-net")


# --------------------------------------------------------------------------------------------------
# Weights: dtypes and values
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_and_double_weights_load(dtype: torch.dtype, tmp_path: Path) -> None:
    model = _tiny_edsr()
    state = {k: v.to(dtype) for k, v in model.state_dict().items()}
    path = _srkit_file(tmp_path / "w.safetensors", state=state)
    loaded = load_any_model(path)
    for key, value in state.items():
        assert torch.equal(loaded.state_dict()[key], value.float()), key


def test_integer_buffers_load_and_must_stay_integers(tmp_path: Path) -> None:
    """SRResNet's BatchNorm ``num_batches_tracked`` (int64) loads from int64 or int32; a float there is
    refused, as is a float weight stored where the network has an integer buffer."""
    torch.manual_seed(0)
    model = build_model("srresnet", num_feat=8, num_blocks=1, scale=2)
    state = model.state_dict()
    key = next(k for k in state if k.endswith("num_batches_tracked"))
    assert state[key].dtype == torch.int64
    load_any_model(save_weights(tmp_path / "a.safetensors", model))
    spec = {"arch": "srresnet", "hparams": dict(model.hparams)}
    build_and_load("int32", spec, {**state, key: state[key].to(torch.int32)})
    with pytest.raises(SrkitError, match=rf"float: tensor '{key}' is float32; the network's is int64"):
        build_and_load("float", spec, {**state, key: state[key].float()})


def test_convert_refuses_nan_weights_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    state = {k: torch.full_like(v, float("nan")) for k, v in _tiny_edsr().state_dict().items()}
    src = _srkit_file(tmp_path / "nan.safetensors", state=state)
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(src), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-finite values" in err and not out.exists()


# --------------------------------------------------------------------------------------------------
# Files that are not readable regular files
# --------------------------------------------------------------------------------------------------


def test_unreadable_file_says_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tiny_edsr())
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    for load in (load_network, load_any_model, read_checkpoint):
        with pytest.raises(SrkitError) as err:
            load(path)
        assert str(err.value) == f"{path}: cannot read: permission denied"


CAPSH = "/usr/sbin/capsh"
DROP = "--drop=cap_dac_override,cap_dac_read_search"


def test_unreadable_files_without_root_capabilities(tmp_path: Path) -> None:
    """As a user without the capabilities that let root read anything (capsh drops them): a mode-000
    weights file and one in a mode-000 folder say 'permission denied' (the first said 'No such file')."""
    if not Path(CAPSH).exists():
        pytest.skip("capsh is not available")
    weights = save_weights(tmp_path / "w.safetensors", _tiny_edsr())
    torch.save(_tiny_edsr().state_dict(), tmp_path / "w.pth")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "w.safetensors").write_bytes(weights.read_bytes())
    files = [weights, tmp_path / "w.pth", locked / "w.safetensors"]
    for path in files[:2]:
        path.chmod(0)
    locked.chmod(0)
    try:
        code = (
            "import sys\nfrom srkit.archs import load_network\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        load_network(p); print('LOADED')\n"
            "    except Exception as e:\n        print(f'{type(e).__name__}: {e}')\n"
        )
        command = shlex.join([sys.executable, "-c", code, *map(str, files)])
        run = subprocess.run([CAPSH, DROP, "--", "-c", command], capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o755)
        for path in files[:2]:
            path.chmod(0o644)
    if run.returncode != 0 or "LOADED" in run.stdout.splitlines()[:1]:
        pytest.skip(f"capsh cannot drop the capabilities here: {run.stderr[-300:]}")
    assert run.stdout.splitlines() == [
        f"SrkitError: {files[0]}: cannot read: permission denied",
        f"SrkitError: {files[1]}: cannot read: permission denied",
        f"SrkitError: {files[2]}: cannot read: permission denied (a folder on its path is not searchable)",
    ]


def test_symlink_loops_folders_and_devices_are_one_line(tmp_path: Path) -> None:
    loop_a, loop_b = tmp_path / "a.pth", tmp_path / "b.pth"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(SrkitError, match=r"a.pth: cannot read: symlink loop$"):
        load_network(loop_a)
    with pytest.raises(SrkitError, match=r"is a folder, not a weights file$"):
        load_network(tmp_path)  # no checkpoint suffix: said what it is, not "unknown model"
    with pytest.raises(SrkitError, match=r"^/dev/null: not a regular file: a character device"):
        load_network("/dev/null")
    with pytest.raises(SrkitError, match="no such weights file"):
        check_file(tmp_path / "missing.pth")
    assert not is_safetensors_file("/dev/null") and pickled_globals("/dev/null") == []


def test_deeply_nested_safetensors_header_is_one_line(tmp_path: Path) -> None:
    """Nesting in the safetensors header itself (parsed by safetensors, which has a recursion limit)."""
    header = b'{"__metadata__": {"a": "b"}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(
        SrkitError, match=r"deep.safetensors: not a safetensors file \(.*recursion limit"
    ) as err:
        load_network(path)
    assert "\n" not in str(err.value)
