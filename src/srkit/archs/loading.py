"""Loading and saving networks: srkit weight files, other projects' checkpoints, named models.

The one way to get a network from a name or a file is :func:`load_network`; the one way to write one
is :func:`save_network`.

Other projects' checkpoints -> srkit networks: format detection, key conversion, loading.

A third-party checkpoint is read safely (:mod:`srkit.io.safe_load`: safetensors, or ``torch.load`` with
``weights_only=True``; containers such as BasicSR's ``params_ema`` and wrapper prefixes such as
``module.`` removed), its layout is recognised from its keys (the layouts registered with each family,
:func:`layouts`), and its keys are renamed to the matching srkit network's while the hyper-parameters
are read off the tensor shapes (never by matching tensors by position). The result, a
:class:`Conversion`, builds an srkit network that loads the converted state dict strictly.

Known layouts (``source_format`` names):

- RRDBNet/ESRGAN: ``rrdbnet-basicsr`` (BasicSR, Real-ESRGAN incl. its pixel-unshuffle x2/x1 models),
  ``rrdbnet-esrgan-new`` (ESRGAN "new arch"), ``rrdbnet-esrgan-old`` (original ESRGAN "old arch");
- EDSR: ``edsr-basicsr``, ``edsr-pytorch`` (the authors' EDSR-PyTorch, mean shift mapped to
  ``img_range``/``rgb_mean``);
- MSRResNet: ``msrresnet-basicsr``, ``msrresnet-mmsr``;
- ``fsrcnn`` (FSRCNN-pytorch; the scale comes from the user or the file name) and ``vdsr``
  (pytorch-vdsr).

Each family's ``layouts.py`` (``srkit/archs/<family>/``) documents its layouts and what it infers. srkit's own
``.safetensors`` files (``source_format`` ``srkit``) are read with their stored metadata; a safetensors
file without srkit metadata is detected like any other checkpoint.

Entry points: :func:`load_any_model` (what ``srkit eval --model x.pth`` uses), :func:`read_any_checkpoint`
and :func:`convert_state_dict`; ``srkit convert`` (:mod:`srkit.cli.convert`) writes the result as an
srkit weight file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from srkit.archs.contract import SRNet
from srkit.archs.layouts import CheckpointFormat, Hints
from srkit.archs.registry import ARCH_ENTRIES, build_from_spec, model_spec, net_info
from srkit.errors import ConfigError, SrkitError, one_line
from srkit.io.checkpoint import WeightsMeta, read_weights_meta, write_weights
from srkit.io.files import check_file
from srkit.io.safe_load import CHECKPOINT_SUFFIXES, read_checkpoint
from srkit.models import find_model, model_weights

#: ``source_format`` of srkit's own weight files.
SRKIT_FORMAT = "srkit"

#: Scales a file name may announce (``_x3``, ``SRx4``, ``4x_``).
_NAME_SCALES = "12348"
_NAME_SCALE = re.compile(
    rf"(?<!\d)x([{_NAME_SCALES}])(?!\d)|(?<![a-z0-9])([{_NAME_SCALES}])x(?![a-z0-9])", re.IGNORECASE
)
_SHOWN_KEYS = 5


@dataclass(frozen=True)
class Conversion:
    """A checkpoint in srkit's terms.

    Attributes:
        arch: srkit architecture name (a key of :data:`srkit.archs.ARCHS`).
        hparams: its constructor arguments.
        state_dict: tensors under srkit's keys; loads strictly into ``build_model(arch, **hparams)``.
        source_format: the layout it came from (a name in :func:`format_names`, or ``'srkit'``).
    """

    arch: str
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    source_format: str

    @property
    def spec(self) -> dict[str, Any]:
        """``{'arch': ..., 'hparams': ...}`` for :func:`srkit.archs.build_from_spec`."""
        return {"arch": self.arch, "hparams": dict(self.hparams)}

    def build(self, source: str | Path = "state dict", *, device: str | torch.device = "cpu") -> SRNet:
        """The srkit network with these weights loaded strictly, in eval mode on ``device``.

        Raises:
            SrkitError: naming ``source`` and the layout, when the hyper-parameters do not build a
                network or the converted keys/shapes do not match it.
        """
        where = source if self.source_format == SRKIT_FORMAT else f"{source} ({self.source_format} layout)"
        return build_and_load(where, self.spec, self.state_dict, device=device)


def layouts() -> list[CheckpointFormat]:
    """Every third-party layout of every registered family, in detection order (registration order)."""
    return [layout for entry in ARCH_ENTRIES.values() for layout in entry.layouts]


def format_names() -> list[str]:
    """The ``source_format`` names of every third-party layout srkit reads, in detection order."""
    return [f.name for f in layouts()]


def format_descriptions() -> dict[str, str]:
    """``{name: description}`` of every third-party layout srkit reads."""
    return {f.name: f.description for f in layouts()}


def scale_from_name(name: str | Path) -> int | None:
    """The scale a file name announces (``fsrcnn_x3.pth`` -> 3, ``RealESRGAN_x4plus.pth`` -> 4,
    ``ESRGAN_SRx4_...`` -> 4, ``4x_foo.pth`` -> 4); ``None`` when it announces none or several."""
    found = {int(a or b) for a, b in _NAME_SCALE.findall(Path(name).name)}
    return found.pop() if len(found) == 1 else None


def detect_format(state: Mapping[str, torch.Tensor]) -> CheckpointFormat | None:
    """The first known layout whose signature keys are all in ``state``, or ``None``."""
    return next((f for f in layouts() if f.matches(state)), None)


def _unknown(source: str, state: Mapping[str, torch.Tensor]) -> SrkitError:
    keys = list(state)
    shown = ", ".join(repr(k) for k in keys[:_SHOWN_KEYS])
    more = f" of {len(keys)}" if len(keys) > _SHOWN_KEYS else ""
    known = ", ".join(format_names())
    return SrkitError(
        f"{source}: unknown checkpoint layout (first keys: {shown}{more}); srkit reads {known} "
        "(see 'srkit convert --help')"
    )


def convert_state_dict(
    state: Mapping[str, torch.Tensor],
    *,
    scale: int | None = None,
    source: str | Path = "state dict",
    name_scale: int | None = None,
) -> Conversion:
    """Detect the layout of a third-party state dict and convert it to srkit's keys.

    Args:
        state: the tensors (already unwrapped, see :func:`srkit.io.safe_load.read_checkpoint`).
        scale: the upscaling factor, when the weights do not store it (FSRCNN) or to check the one they
            imply (a contradiction is an error).
        source: what errors call the state dict (the file).
        name_scale: the factor the file name announces (:func:`scale_from_name`); used only where the
            weights do not decide it.

    Raises:
        SrkitError: one line naming ``source``: an unknown layout (listing the known ones and the first
            keys), or a known layout that does not hold together (naming the problem).
    """
    source = str(source)
    fmt = detect_format(state)
    if fmt is None:
        raise _unknown(source, state)
    arch, hparams, converted = fmt.convert(state, Hints(source=source, scale=scale, name_scale=name_scale))
    return Conversion(arch=arch, hparams=hparams, state_dict=converted, source_format=fmt.name)


def read_any_checkpoint(path: str | Path, *, scale: int | None = None) -> Conversion:
    """Read any checkpoint file as a :class:`Conversion`, without building the network.

    srkit weight files (safetensors with srkit metadata) are taken as they are (``scale`` is not used);
    everything else (PyTorch files, safetensors without srkit metadata) goes through
    :func:`convert_state_dict` with ``scale`` and the scale the file name announces.

    Raises:
        SrkitError: one line naming the file (see :func:`srkit.io.safe_load.read_checkpoint` and
            :func:`convert_state_dict`).
    """
    path = Path(path)
    state, metadata = read_checkpoint(path)
    if metadata and "srkit_format" in metadata:
        meta = read_weights_meta(path)
        return Conversion(meta.arch, dict(meta.hparams), state, SRKIT_FORMAT)
    return convert_state_dict(state, scale=scale, source=path, name_scale=scale_from_name(path))


def load_any_model(
    path: str | Path, *, scale: int | None = None, device: str | torch.device = "cpu"
) -> SRNet:
    """The srkit network of any checkpoint file (srkit ``.safetensors`` or a known third-party layout in
    ``.pth``/``.pt``/``.ckpt``/``.bin``/``.safetensors``), weights loaded strictly, in eval mode on
    ``device``; ``scale`` as in :func:`read_any_checkpoint`.

    Raises:
        SrkitError: one line naming the file: unreadable or unsafe files, unknown layouts, weights that
            do not match the network.
    """
    path = Path(path)
    return read_any_checkpoint(path, scale=scale).build(path, device=device)


# --------------------------------------------------------------------------------------------------
# srkit weight files
# --------------------------------------------------------------------------------------------------


#: The floating-point dtypes a network's weights may come in (converted to the network's own dtype
#: when loaded); anything else (bool, integers, complex, float8) would give white, grey or broken images.
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

#: Bounds on building the network a file's hyper-parameters describe, before anything is allocated:
#: the network is first built on PyTorch's ``meta`` device (shapes only, no memory), and that build may
#: make at most ``BUILD_CALLS_PER_TENSOR`` calls into torch per tensor in the file plus
#: ``BUILD_CALLS_FLOOR`` (the registered families make 6 to 13 per tensor: an EDSR with
#: ``num_block: 1000000`` stops after about 2,000 blocks instead of filling the memory); then its
#: parameters and buffers, non-persistent ones included, may hold at most the file's values plus
#: ``EXTRA_VALUES_FLOOR`` or as many again.
BUILD_CALLS_PER_TENSOR = 100
BUILD_CALLS_FLOOR = 10_000
EXTRA_VALUES_FLOOR = 1 << 20


def check_state_dict(path: str | Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise a one-line :class:`SrkitError` naming ``path`` and the first missing key, unexpected key,
    shape mismatch or unusable tensor between ``state`` and ``model.state_dict()``; return when they
    match. ``model`` may live on the ``meta`` device (only its keys, shapes and dtypes are read).

    Where the network holds a floating-point tensor, the file's must be float16, bfloat16, float32 or
    float64 (:data:`WEIGHT_DTYPES`) and finite (no NaN, no infinity); where it holds an integer or bool
    buffer (BatchNorm's ``num_batches_tracked``), the file's must be of the same kind.
    """
    expected = model.state_dict()
    what = model.arch_name if isinstance(model, SRNet) else type(model).__name__
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing key {missing[0]!r}{_more(missing)}")
    if unexpected:
        problems.append(f"unexpected key {unexpected[0]!r}{_more(unexpected)}")
    if problems:
        raise SrkitError(f"{path}: weights do not match {what}: {'; '.join(problems)}")
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise SrkitError(
                f"{path}: weights do not match {what}: {key!r} has shape {tuple(got.shape)}, "
                f"the network expects {tuple(want.shape)}"
            )
    for key, want in expected.items():
        _check_values(path, key, state[key], want)


def _check_values(path: str | Path, key: str, got: torch.Tensor, want: torch.Tensor) -> None:
    if want.is_floating_point():
        if got.dtype not in WEIGHT_DTYPES:
            raise SrkitError(
                f"{path}: tensor {key!r} is {_dtype(got)}, not floating-point weights "
                "(float16, bfloat16, float32 or float64)"
            )
        if got.numel() and not bool(torch.isfinite(got).all()):
            bad = int((~torch.isfinite(got)).sum())
            raise SrkitError(
                f"{path}: tensor {key!r} holds {bad} non-finite values (NaN or infinity) of {got.numel()}; "
                "such weights give black or broken images"
            )
    elif got.dtype != want.dtype and not (_is_integer(got) and _is_integer(want)):
        raise SrkitError(f"{path}: tensor {key!r} is {_dtype(got)}; the network's is {_dtype(want)}")


def _is_integer(t: torch.Tensor) -> bool:
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _more(items: list[str]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


class _BuildBudgetExceeded(Exception):
    """Raised inside a network's constructor when it makes more torch calls than allowed."""


#: In-place operations that only change values (weight initialisation): skipped on the ``meta``
#: device, where there are no values (some, such as ``normal_``, would import ``torch._dynamo`` there,
#: seconds of start-up for nothing).
_VALUE_FILLS = frozenset(
    {
        "normal_",
        "uniform_",
        "erfinv_",
        "exponential_",
        "bernoulli_",
        "random_",
        "log_normal_",
        "cauchy_",
        "geometric_",
        "fill_",
        "zero_",
        "copy_",
        "clamp_",
        "clamp_min_",
        "clamp_max_",
        "mul_",
        "add_",
        "sub_",
        "div_",
    }
)


def _fills(func: Any) -> bool:
    """Whether ``func`` only writes values into its first argument: a :data:`_VALUE_FILLS` method or a
    :mod:`torch.nn.init` function."""
    return getattr(func, "__name__", "") in _VALUE_FILLS or getattr(func, "__module__", "") == "torch.nn.init"


class _BuildBudget(TorchFunctionMode):
    """Counts the calls into torch made while a network is built and stops the build past ``limit``.

    In a ``meta`` build it also skips :func:`_fills` on ``meta`` tensors and makes ``torch.arange``
    (the index tables of non-persistent buffers, such as a window attention's relative-position index)
    compute on the CPU: those small integer computations would otherwise go through PyTorch's Python
    reference implementations, whose first use imports ``torch._dynamo`` (seconds)."""

    def __init__(self, limit: int, *, meta: bool = False) -> None:
        super().__init__()
        self.limit = limit
        self.meta = meta
        self.calls = 0

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        self.calls += 1
        if self.calls > self.limit:
            raise _BuildBudgetExceeded
        kwargs = dict(kwargs or {})
        if self.meta:
            target = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes it by keyword
            if isinstance(target, torch.Tensor) and target.is_meta and _fills(func):
                return target
            if func is torch.arange and kwargs.get("device") is None:
                kwargs["device"] = "cpu"
        return func(*args, **kwargs)


def _values(tensors: Any) -> int:
    return sum(int(t.numel()) for t in tensors)


def _build(
    path: str | Path, spec: Mapping[str, Any], state: Mapping[str, torch.Tensor], *, meta: bool
) -> SRNet:
    """``build_from_spec(spec)`` (on the ``meta`` device when ``meta``), stopped with a one-line error
    past the call budget that ``state``'s size allows."""
    budget = _BuildBudget(BUILD_CALLS_PER_TENSOR * len(state) + BUILD_CALLS_FLOOR, meta=meta)
    try:
        if meta:
            with torch.device("meta"), budget:
                return build_from_spec(spec)
        with budget:
            return build_from_spec(spec)
    except ConfigError as exc:
        raise SrkitError(f"{path}: cannot rebuild the network: {one_line(exc, 300)}") from None
    except (RuntimeError, NotImplementedError, MemoryError) as exc:
        if meta:  # an operation the meta device does not implement: build_and_load builds it directly
            raise
        raise SrkitError(f"{path}: cannot rebuild the network: {one_line(exc, 300)}") from None
    except _BuildBudgetExceeded:
        raise SrkitError(
            f"{path}: the stored hyper-parameters describe a far larger network than the {len(state)} "
            f"tensors in the file (hparams {_short(spec)}); refusing to build it"
        ) from None


def _short(spec: Mapping[str, Any]) -> str:
    hparams = spec.get("hparams", {})
    text = " ".join((str(dict(hparams)) if isinstance(hparams, Mapping) else repr(hparams)).split())
    return text if len(text) <= 200 else text[:197] + "..."


def build_and_load(
    path: str | Path,
    spec: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    *,
    device: str | torch.device = "cpu",
) -> SRNet:
    """Build the network of ``spec`` (``{'arch': ..., 'hparams': ...}``) and load ``state`` into it
    strictly, in eval mode on ``device``; ``path`` names the source in errors.

    The hyper-parameters are checked against the tensors before anything is allocated: the network is
    first built on the ``meta`` device (within a budget of torch calls that the number of tensors sets,
    :data:`BUILD_CALLS_PER_TENSOR`), its keys, shapes and dtypes compared with ``state``
    (:func:`check_state_dict`) and its size bounded by the values in ``state``; only then is it built
    for real. (A network class that cannot be built on ``meta`` is built directly, within the budget.)

    Raises:
        SrkitError: naming ``path``, when the spec does not build a network, describes one far larger
            than the weights, or the weights do not match it (first missing/unexpected key, shape, a
            non-floating or non-finite tensor).
    """
    try:
        skeleton: SRNet | None = _build(path, spec, state, meta=True)
    except (RuntimeError, NotImplementedError):  # an operation the meta device does not implement
        skeleton = None
    if skeleton is not None:
        check_state_dict(path, skeleton, state)
        held = _values(state.values())
        needed = _values(skeleton.parameters()) + _values(skeleton.buffers())
        if needed > 2 * held + EXTRA_VALUES_FLOOR:
            raise SrkitError(
                f"{path}: the stored hyper-parameters describe a network of {needed} values, the file holds "
                f"{held}; refusing to build it"
            )
    model = _build(path, spec, state, meta=False)
    if skeleton is None:
        check_state_dict(path, model, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # anything check_state_dict does not foresee
        raise SrkitError(f"{path}: weights do not load: {one_line(exc, 300)}") from None
    return model.to(device).eval()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside training wrappers: ``torch.compile``'s ``OptimizedModule`` (``_orig_mod``) and
    ``DataParallel``/``DistributedDataParallel`` (``module``), so saved keys carry no wrapper prefix."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(model._modules.get("_orig_mod"), nn.Module):
            model = model._modules["_orig_mod"]  # type: ignore[assignment]
        else:
            return model


def save_weights(
    path: str | Path,
    model_or_state: nn.Module | Mapping[str, torch.Tensor],
    *,
    arch: str | None = None,
    hparams: Mapping[str, Any] | None = None,
    scale: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an srkit weight file atomically (:func:`srkit.io.checkpoint.write_weights`); returns ``path``.

    From a registered network (unwrapped from ``torch.compile``/``DataParallel``/DDP), ``arch``,
    ``hparams`` and ``scale`` default to its :func:`~srkit.archs.model_spec` and
    :class:`~srkit.archs.NetInfo` scale. From a bare state dict ``arch`` and ``hparams`` must be given,
    and ``scale`` defaults to ``hparams['scale']``.
    """
    if isinstance(model_or_state, nn.Module):
        net = unwrap_model(model_or_state)
        if isinstance(net, SRNet) and net.arch_name in ARCH_ENTRIES:
            spec = model_spec(net)
            arch = arch if arch is not None else spec["arch"]
            hparams = hparams if hparams is not None else spec["hparams"]
            scale = scale if scale is not None else net_info(net).scale
        return write_weights(path, net.state_dict(), arch=arch, hparams=hparams, scale=scale, extra=extra)
    return write_weights(path, model_or_state, arch=arch, hparams=hparams, scale=scale, extra=extra)


# --------------------------------------------------------------------------------------------------
# One way to get a network: by name or by file
# --------------------------------------------------------------------------------------------------


def load_network(
    name_or_path: str | Path, *, scale: int | None = None, device: str | torch.device = "cpu"
) -> SRNet:
    """The network a user means by ``--model``: a named model of :data:`srkit.models.MODELS` (its
    weights inside the package) or a checkpoint file (an srkit ``.safetensors`` file or a third-party
    checkpoint of a registered layout, see :func:`load_any_model`), in eval mode on ``device``.

    Raises:
        SrkitError: one line: a named model whose weights are not installed, a file that cannot be
            loaded (naming it and why), or a name that is neither.
    """
    text = str(name_or_path).strip()
    if find_model(text.lower()) is not None:
        return load_any_model(model_weights(text.lower()), device=device)
    path = Path(text).expanduser()
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return load_any_model(path, scale=scale, device=device)
    if os.path.lexists(path):
        check_file(path)  # a folder, FIFO, device, symlink loop or unreadable file: say so
        raise ConfigError(
            f"{text}: unsupported model file type {path.suffix or '(none)'!r}; "
            f"accepted: {', '.join(CHECKPOINT_SUFFIXES)}"
        )
    raise ConfigError(f"model: unknown model {text!r}")


__all__ = [
    "SRKIT_FORMAT",
    "Conversion",
    "WeightsMeta",
    "build_and_load",
    "check_state_dict",
    "convert_state_dict",
    "detect_format",
    "format_descriptions",
    "format_names",
    "layouts",
    "load_any_model",
    "load_network",
    "read_any_checkpoint",
    "save_weights",
    "scale_from_name",
    "unwrap_model",
]
