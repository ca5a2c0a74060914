"""Reading other people's checkpoint files without executing anything in them.

Checkpoints come as safetensors files (preferred: plain tensors, nothing to execute) or as PyTorch
``torch.save`` files (``.pth``, ``.pt``, ``.ckpt``, ``.bin``; zip format or legacy pickle). A PyTorch file
is a pickle, and unpickling arbitrary objects runs code chosen by whoever wrote the file, so srkit reads
them only with ``torch.load(path, map_location='cpu', weights_only=True)``: PyTorch's restricted
unpickler, which builds tensors and plain containers (dicts, lists, numbers, strings) and refuses
anything else *before* calling it. A file that pickles a whole ``nn.Module`` (or any other Python
object) is refused with a one-line :class:`~srkit.errors.SrkitError` that names the file and the first
object, and says how to turn it into a plain state dict (when the restricted unpickler stops before
naming the object, :func:`pickled_globals` finds it by parsing the opcodes with :mod:`pickletools`,
which builds and calls nothing either). srkit never calls ``torch.load`` with
``weights_only=False``; an explicit ``weights_only=True`` also wins over PyTorch's
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment switch. PyTorch before 2.6 is refused for pickle files:
its restricted unpickler could be escaped (CVE-2025-32434).

Training frameworks nest the weights in containers and prefix their keys; :func:`read_checkpoint`
unwraps both (see :data:`STATE_DICT_CONTAINER_KEYS` and :data:`WRAPPER_PREFIXES`).

A small file must not cost gigabytes: before ``torch.load`` (and before srkit's own opcode scan) a
PyTorch file is checked against bounds that every real checkpoint passes by a wide margin
(:func:`check_torch_file`). A zip-format file is checked from its central directory, before anything
is inflated: each member's declared uncompressed size and compression ratio, the total, the pickle
(``data.pkl``) and the number of members. A legacy file's pickles are measured by parsing their opcodes
(which builds nothing). The bounds, and what the real third-party checkpoints of ``$SRKIT_SHARED/weights``
measure (``tests/test_hostile_checkpoints.py`` checks that they all pass):

- :data:`MAX_PICKLE_BYTES` (2 MiB) for the pickle: the largest real one is 49,867 bytes (BSRN's
  ``data.pkl``, 348 tensors, about 145 bytes per tensor; the legacy files' pickles take 30,837 bytes at
  most, PAN's), so 2 MiB holds some 14,000 tensors (RRDBNet has 702); PyTorch's restricted unpickler was
  measured at about 220 bytes of memory per pickle byte in the worst case (a pickle of empty sets: 1.9
  MiB took 450 MB and 20 s on a loaded 2-core machine), so the bound keeps a hostile pickle under half a
  gigabyte.
- :data:`MAX_MEMBER_RATIO` (100) for any member over :data:`RATIO_FLOOR` (1 MiB) declared: ``torch.save``
  stores members uncompressed (ratio 1.00 in every real file but one, re-zipped with deflate: 2.98 at
  most, its ``data.pkl``); float weights compress by 1.1 at most, only a bomb (or a large all-zero tensor)
  reaches 100.
- the total declared uncompressed size at most :data:`MAX_INFLATION` (8) times the file's size plus
  :data:`INFLATION_FLOOR` (16 MiB): the real files measure 0.96 to 1.07 times their size.
- :data:`MAX_MEMBERS` (100,000) members: one per stored tensor plus about five (the real files have
  26 to 348).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch

from srkit.errors import SrkitError, one_line
from srkit.io.files import WEIGHTS_SUFFIX, check_file, read_safetensors

#: Suffixes of PyTorch ``torch.save`` files that srkit reads (with ``weights_only=True``).
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")

#: Every checkpoint suffix srkit reads: safetensors and PyTorch files.
CHECKPOINT_SUFFIXES = (WEIGHTS_SUFFIX, *TORCH_SUFFIXES)

#: Keys under which training frameworks nest the state dict, in the order they are tried at each level
#: (BasicSR's EMA weights ``params_ema`` before its raw ``params``; ``generator``/``netG`` for GAN
#: checkpoints that hold both networks). Nesting is followed up to :data:`MAX_NESTING` levels.
STATE_DICT_CONTAINER_KEYS = (
    "params_ema",
    "params",
    "state_dict",
    "model_state_dict",
    "model",
    "net",
    "generator",
    "netG",
)

#: Key prefixes added by wrappers, removed when every key carries them: ``module.``
#: (``DataParallel``/DDP), ``_orig_mod.`` (``torch.compile``), ``netG.``/``generator.`` (the generator
#: inside a GAN training module). When only some keys carry ``netG.``/``generator.`` (a flattened GAN
#: checkpoint that also holds the discriminator), those keys are kept and the rest dropped.
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "netG.", "generator.")
GENERATOR_PREFIXES = ("netG.", "generator.")

MAX_NESTING = 4

#: The first PyTorch release whose ``weights_only`` unpickler has no known escape (CVE-2025-32434 affects
#: ``torch.load(..., weights_only=True)`` up to 2.5.1).
MIN_SAFE_TORCH = (2, 6)

_UNSAFE_NAME = re.compile(
    r"Unsupported (?:global|class):?\s*(?:GLOBAL\s+)?([\w.]+)"
    r"|GLOBAL\s+([\w.]+)"
    r"|unrecognized function\s+([\w.<>]+)",
    re.IGNORECASE,
)
_UNSAFE_HINT = re.compile(r"reduce|build|global|class|allowlist", re.IGNORECASE)
_DETAIL = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")
#: Globals of ordinary ``torch.save`` files, ignored when naming the object that made a load fail.
_ORDINARY_GLOBALS = re.compile(r"(torch|collections|_codecs)\..*")

#: Bounds checked by :func:`check_torch_file` before ``torch.load`` (see the module docstring for the
#: evidence): the pickle's size, a member's compression ratio (for members over ``RATIO_FLOOR``),
#: the total declared uncompressed size (``MAX_INFLATION`` times the file's size plus
#: ``INFLATION_FLOOR``) and the number of zip members.
MAX_PICKLE_BYTES = 2 * 1024 * 1024
MAX_MEMBER_RATIO = 100
RATIO_FLOOR = 1024 * 1024
MAX_INFLATION = 8
INFLATION_FLOOR = 16 * 1024 * 1024
MAX_MEMBERS = 100_000

#: The pickles at the start of a legacy (pre-1.6) ``torch.save`` file: magic number, protocol version,
#: system info, the object, the storage keys; the storages' raw bytes follow.
_LEGACY_PICKLES = 5
#: Compression methods PyTorch's zip reader inflates: stored and deflate.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_MAGIC = b"PK\x03\x04"


# --------------------------------------------------------------------------------------------------
# Recognising and reading files
# --------------------------------------------------------------------------------------------------


def is_safetensors_file(path: str | Path) -> bool:
    """Whether ``path`` starts like a safetensors file (8-byte little-endian header length, then a JSON
    object), whatever its suffix; reads 9 bytes."""
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            return False
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 2 <= header_len <= min(size - 8, 100_000_000) and head[8:9] == b"{"


def _torch_version() -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def _refusal(path: Path, name: str | None) -> SrkitError:
    what = f" (e.g. {name})" if name else ""
    return SrkitError(
        f"{path}: refused: it contains pickled Python objects{what}, not just tensors, and loading it would "
        "execute code; to convert it, load it in the original project (only if you trust the file), save the "
        "plain state dict with torch.save(model.state_dict(), 'weights.pth') and run "
        "'srkit convert weights.pth OUT.safetensors'"
    )


def _scan_globals(stream: IO[bytes]) -> list[str]:
    """``module.name`` of every global (``GLOBAL``, ``INST``, ``STACK_GLOBAL``) in the pickles read from
    ``stream`` one after another (a legacy torch file is several), found by parsing opcodes with
    :mod:`pickletools`, which never builds or calls anything; stops at the first thing that does not
    parse (tensor bytes, garbage)."""
    found: list[str] = []
    while True:
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                    found.append(arg.replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str):
                    strings.append(arg)
        except Exception:  # not (or no longer) a pickle
            return found
        if not stream.read(1):
            return found
        stream.seek(-1, io.SEEK_CUR)


def pickled_globals(path: str | Path) -> list[str]:
    """The Python objects (``module.name``) a PyTorch or pickle file refers to, in order, without
    unpickling it: parsed from the opcodes of the zip format's ``data.pkl`` or of the legacy format's
    pickles (at most :data:`MAX_PICKLE_BYTES` of them). Empty when the file is not a regular file, not a
    pickle, cannot be read or exceeds the bounds of :func:`check_torch_file`."""
    path = Path(path)
    try:
        if not path.is_file():
            return []
        with path.open("rb") as stream:
            zipped = stream.read(4) == _ZIP_MAGIC
        if zipped:
            check_torch_file(path)
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return []
                return _scan_globals(io.BytesIO(archive.read(names[0])))
        with path.open("rb") as stream:
            return _scan_globals(io.BytesIO(stream.read(MAX_PICKLE_BYTES)))
    except (OSError, SrkitError, zipfile.BadZipFile, ValueError, EOFError):
        return []


# --------------------------------------------------------------------------------------------------
# Bounds on what a PyTorch file may cost before it is loaded
# --------------------------------------------------------------------------------------------------


def _too_large(path: Path, what: str) -> SrkitError:
    return SrkitError(f"{path}: refused: {what}; a real checkpoint is far below this (a zip or pickle bomb?)")


def _check_zip(path: Path, size: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise SrkitError(
            f"{path}: not a PyTorch or safetensors checkpoint (corrupt zip: {one_line(exc, 160)})"
        ) from None
    if len(members) > MAX_MEMBERS:
        raise _too_large(path, f"{len(members)} zip members (at most {MAX_MEMBERS})")
    total = 0
    for info in members:
        name = info.filename
        if info.flag_bits & 0x1:
            raise SrkitError(f"{path}: refused: zip member {name!r} is encrypted")
        if info.compress_type not in _ZIP_METHODS:
            raise SrkitError(
                f"{path}: refused: zip member {name!r} uses compression method {info.compress_type} "
                "(PyTorch files are stored or deflated)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_MEMBER_RATIO:
            raise _too_large(
                path,
                f"zip member {name!r} inflates {ratio:.0f}x ({info.compress_size} -> {info.file_size} bytes; "
                f"at most {MAX_MEMBER_RATIO}x)",
            )
        if name.endswith("data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise _too_large(
                path,
                f"zip member {name!r} is a pickle of {info.file_size} bytes (at most {MAX_PICKLE_BYTES})",
            )
        total += info.file_size
    allowed = MAX_INFLATION * size + INFLATION_FLOOR
    if total > allowed:
        raise _too_large(
            path,
            f"its zip members declare {total} bytes uncompressed, {total / max(size, 1):.0f}x the file's "
            f"{size} bytes (at most {MAX_INFLATION}x + {INFLATION_FLOOR})",
        )


def _check_legacy(path: Path) -> None:
    """The pickles at the start of a legacy file must end within :data:`MAX_PICKLE_BYTES`; files that do
    not parse as pickles are left to ``torch.load`` to name."""
    with path.open("rb") as f:
        head = f.read(MAX_PICKLE_BYTES + 1)
    stream = io.BytesIO(head)
    for _ in range(_LEGACY_PICKLES):
        try:
            for _op in pickletools.genops(stream):
                pass
        except Exception:  # ran off the end of what was read, or not a pickle
            if len(head) > MAX_PICKLE_BYTES and stream.tell() >= MAX_PICKLE_BYTES:
                raise _too_large(path, f"its pickles take more than {MAX_PICKLE_BYTES} bytes") from None
            return
        if not head[stream.tell() : stream.tell() + 1]:
            return


def check_torch_file(path: str | Path) -> None:
    """Check a PyTorch ``torch.save`` file against the bounds of the module docstring before anything
    is inflated or unpickled: a zip-format file (recognised, as ``torch.load`` does, by its first bytes)
    from its central directory, a legacy file by parsing its pickles' opcodes.

    Raises:
        SrkitError: one line naming the file (and the zip member) and the bound it exceeds.
    """
    path = Path(path)
    try:
        size = os.stat(path).st_size
        with path.open("rb") as f:
            zipped = f.read(4) == _ZIP_MAGIC
        if zipped:
            _check_zip(path, size)
        else:
            _check_legacy(path)
    except OSError as exc:
        raise SrkitError(f"{path}: cannot read: {one_line(exc, 160)}") from None


def _unsafe_global(path: Path) -> str | None:
    """The first global of ``path`` that an ordinary ``torch.save`` of tensors would not contain."""
    return next((g for g in pickled_globals(path) if not _ORDINARY_GLOBALS.fullmatch(g)), None)


def _torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure becomes a one-line SrkitError."""
    version = _torch_version()
    if version < MIN_SAFE_TORCH:
        raise SrkitError(
            f"{path}: refused: PyTorch {torch.__version__} cannot load pickle checkpoints safely "
            f"(CVE-2025-32434 affects torch < {'.'.join(map(str, MIN_SAFE_TORCH))}); upgrade PyTorch or "
            "use a .safetensors file"
        )
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the outcome is reported below
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise SrkitError(f"{path}: cannot read: {one_line(exc)}") from None
    except pickle.UnpicklingError as exc:
        text = str(exc)
        unsafe = _UNSAFE_NAME.search(text)
        if unsafe:
            raise _refusal(path, next(g for g in unsafe.groups() if g)) from None
        # The restricted unpickler stopped before reaching an object (e.g. at an opcode it does not
        # support): look for one by parsing the opcodes, which executes nothing either.
        name = _unsafe_global(path)
        if name is not None:
            raise _refusal(path, name) from None
        detail = _DETAIL.search(text)
        reason = detail.group(1).strip() if detail else one_line(exc)
        if _UNSAFE_HINT.search(reason) and "operand" not in reason.lower():
            raise _refusal(path, None) from None
        raise SrkitError(f"{path}: not a PyTorch or safetensors checkpoint ({reason[:160]})") from None
    except Exception as exc:  # EOFError (empty), KeyError/ValueError (not a pickle), RuntimeError (bad zip)
        reason = one_line(exc)
        if isinstance(exc, (KeyError, EOFError)):
            reason = f"{type(exc).__name__}: {reason}" if str(exc) else type(exc).__name__
        raise SrkitError(f"{path}: not a PyTorch or safetensors checkpoint ({reason[:160]})") from None


# --------------------------------------------------------------------------------------------------
# Containers and prefixes
# --------------------------------------------------------------------------------------------------


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _find_state_dict(obj: Any, depth: int = 0) -> Mapping[str, torch.Tensor] | None:
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, Mapping) and depth < MAX_NESTING:
        for key in STATE_DICT_CONTAINER_KEYS:
            if key in obj:
                found = _find_state_dict(obj[key], depth + 1)
                if found is not None:
                    return found
    return None


def unwrap_state_dict(obj: Any, source: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside what ``torch.load`` returned: ``obj`` itself when it maps names to tensors,
    else the first of :data:`STATE_DICT_CONTAINER_KEYS` (at each level, nested up to
    :data:`MAX_NESTING` deep) that holds one; wrapper prefixes are then removed
    (:func:`strip_wrapper_prefixes`).

    Raises:
        SrkitError: naming ``source``, when there is no state dict (listing the top-level keys).
    """
    found = _find_state_dict(obj)
    if found is None:
        if isinstance(obj, Mapping):
            keys = ", ".join(repr(k) for k in list(obj)[:6]) or "none"
            raise SrkitError(
                f"{source}: no state dict found (top-level keys: {keys}; looked for a mapping of tensors at "
                f"the top level or under {', '.join(STATE_DICT_CONTAINER_KEYS)})"
            )
        raise SrkitError(f"{source}: holds a {type(obj).__name__}, not a state dict")
    return strip_wrapper_prefixes(found)


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the wrapper prefixes of :data:`WRAPPER_PREFIXES`, repeatedly (e.g.
    ``generator.module.``); a prefix is removed only when every key carries it, except that the
    ``netG.``/``generator.`` keys of a checkpoint that also holds other networks are selected."""
    out = dict(state)
    while out:
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                break
        else:
            for prefix in GENERATOR_PREFIXES:
                picked = {k[len(prefix) :]: v for k, v in out.items() if k.startswith(prefix)}
                if picked:
                    out = picked
                    break
            else:
                return out
    return out


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The tensors of any checkpoint file, on the CPU, and its safetensors header metadata.

    A file named ``*.safetensors``, or any file that starts like one, is read with safetensors
    (metadata: its header's ``__metadata__``, possibly empty). Anything else is a PyTorch file read with
    ``weights_only=True`` (metadata ``None``). The state dict is unwrapped from training containers and
    wrapper prefixes (:func:`unwrap_state_dict`); keys are otherwise unchanged (renaming to srkit's
    layouts is :mod:`srkit.archs.loading`'s business).

    Raises:
        SrkitError: one line naming the file: missing, unreadable, not a checkpoint, pickled Python
            objects (refused without executing them; the message says how to convert the file), or no
            state dict inside.
    """
    path = Path(path)
    check_file(path)
    if path.suffix.lower() == WEIGHTS_SUFFIX or is_safetensors_file(path):
        tensors, metadata = read_safetensors(path)
        if not tensors:
            raise SrkitError(f"{path}: holds no tensors")
        return strip_wrapper_prefixes(tensors), dict(metadata or {})
    check_torch_file(path)
    state = unwrap_state_dict(_torch_load(path), path)
    return {k: v.detach().to("cpu") for k, v in state.items()}, None


def load_state_dict_any(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of any checkpoint file (see :func:`read_checkpoint`), without its metadata."""
    return read_checkpoint(path)[0]
