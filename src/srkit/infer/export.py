"""ONNX export of srkit networks, verified with onnxruntime.

:func:`export_onnx` writes the bare network (no colour conversion, padding or clamping: the input is
what the network takes, RGB or Y, ``(N, C, H, W)`` float32 in [0, 1]) as an ONNX model whose batch,
height and width are dynamic, with srkit's metadata (``arch``, ``hparams``, ``scale``, ...) in the
model's ``metadata_props``. Before the file is written, the model is run with onnxruntime
(``CPUExecutionProvider``) on a random input of a different size (and batch) from the one used for
export and compared with the PyTorch network in float32; a difference of :data:`CHECK_TOLERANCE` or
more (:data:`FP16_CHECK_TOLERANCE` for float16 exports) is an error and nothing is written. The file
is written atomically, so an existing file is replaced only by a complete, verified one.

Exporters (``exporter=``):

``'dynamo'`` (default)
    ``torch.onnx.export(..., dynamo=True)``: PyTorch's supported exporter (``torch.export`` graph
    capture, translated by onnxscript). Opset 18 or later; lower opsets are converted down where
    the ONNX version converter can (checked: a model that stays at a higher opset is an error).
``'torchscript'``
    ``torch.onnx.export(..., dynamo=False)``: the legacy tracer, deprecated by PyTorch but faster to
    export and able to target opsets below 18; the fallback for a network the dynamo exporter
    cannot capture.

Both export every srkit architecture (EDSR with its mean shift, RRDBNet with nearest interpolation
and pixel-unshuffle, MSRResNet with bilinear skip, SRResNet with batch norm/PReLU/bicubic upsampling,
FSRCNN's transposed convolution, VDSR) with outputs within 1e-6 of PyTorch.

``fp16=True`` stores the weights and runs the network in float16 (for GPU runtimes) while the model's
input and output stay float32 (casts at both ends), so callers feed the same tensors.

The ONNX packages are optional: ``pip install 'srkit[onnx]'`` installs onnx, onnxscript and
onnxruntime. A missing one is a one-line :class:`~srkit.errors.SrkitError` naming that extra.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import io
import json
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from srkit.archs import Runner, model_spec, net_info, unwrap_model
from srkit.errors import ConfigError, SrkitError, one_line
from srkit.io.atomic import atomic_write_bytes
from srkit.version import __version__

ONNX_EXTRA = "onnx"
"""The optional-dependency extra that installs the ONNX packages."""

INSTALL_HINT = f"pip install 'srkit[{ONNX_EXTRA}]'"

EXPORTERS: tuple[str, ...] = ("dynamo", "torchscript")

CHECK_TOLERANCE = 1e-4
"""Largest allowed max-abs difference between onnxruntime and PyTorch float32 (float32 export)."""

FP16_CHECK_TOLERANCE = 1e-2
"""Largest allowed max-abs difference, relative to ``max(1, max |reference|)``, for float16 exports."""

INPUT_NAME = "input"
OUTPUT_NAME = "output"
DYNAMIC_AXES: dict[int, str] = {0: "batch", 2: "height", 3: "width"}

METADATA_FORMAT = "1"
"""Version of the srkit keys written into ``metadata_props`` (``srkit_format``)."""

#: Side of the export example before rounding up to the network's ``window_multiple``; the check runs
#: on a larger, non-square input with another batch size.
_EXPORT_SIDE = 32
_EXPORT_BATCH = 2
_CHECK_EXTRA = (8, 24)
_CHECK_BATCH = 1
_CHECK_SEED = 0
_MIN_OPSET = 7
_DYNAMO_MIN_OPSET = 18


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx_report` wrote and how the check went.

    Attributes:
        path: the ONNX file.
        exporter: ``'dynamo'`` or ``'torchscript'``.
        opset: the default-domain opset of the written model.
        fp16: weights and arithmetic in float16 (input and output float32).
        nbytes: size of the file.
        metadata: the srkit entries of ``metadata_props``.
        check_shape: the input shape of the onnxruntime check (``None`` when not checked).
        max_abs_diff: the check's max-abs difference from PyTorch float32 (``None`` when not checked).
    """

    path: Path
    exporter: str
    opset: int
    fp16: bool
    nbytes: int
    metadata: dict[str, str]
    check_shape: tuple[int, ...] | None = None
    max_abs_diff: float | None = None


# --------------------------------------------------------------------------------------------------
# Optional dependencies
# --------------------------------------------------------------------------------------------------


def require(module: str, purpose: str = "ONNX export") -> ModuleType:
    """Import an optional ONNX package or raise a one-line :class:`SrkitError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise SrkitError(
            f"{purpose} needs the Python package {module!r}, which is not installed; "
            f"install srkit's {ONNX_EXTRA!r} extra: {INSTALL_HINT}"
        ) from None
    except ImportError as exc:  # installed but broken (missing shared library, ABI mismatch, ...)
        raise SrkitError(
            f"{purpose} needs the Python package {module!r}, which cannot be imported "
            f"({_one_line(exc)}); reinstall it: {INSTALL_HINT}"
        ) from None


#: Exception text quoted in an error message, cut at 300 characters (exporter errors can run to pages).
_one_line = functools.partial(one_line, limit=300)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost ``__cause__`` (the exporters wrap the real error in their own)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


# --------------------------------------------------------------------------------------------------
# The network as exported
# --------------------------------------------------------------------------------------------------


class _Float16Net(nn.Module):
    """A float16 network behind float32 input and output (the casts become ONNX ``Cast`` nodes)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(torch.float16)).to(torch.float32)


def _plain_copy(model: nn.Module) -> nn.Module:
    """A float32, contiguous-format, eval-mode CPU copy (the caller's module is left as it is)."""
    net = copy.deepcopy(unwrap_model(model))
    # torch's stubs lack Module.to(memory_format=...)
    net = net.to(device="cpu", dtype=torch.float32, memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]
    net.requires_grad_(False)
    return net


def _round_up(value: int, multiple: int) -> int:
    return multiple * math.ceil(value / multiple)


def _geometry(net: nn.Module) -> tuple[int, int]:
    """``(input channels, size multiple)`` of a registered network (its NetInfo)."""
    try:
        info = net_info(unwrap_model(net))
    except TypeError as exc:
        raise ConfigError(f"{type(net).__name__}: cannot export: {exc}") from None
    return info.in_channels, info.size_multiple


def export_shape(net: nn.Module) -> tuple[int, int, int, int]:
    """The example input shape used to trace ``net`` for export."""
    channels, multiple = _geometry(net)
    side = _round_up(_EXPORT_SIDE, multiple)
    return (_EXPORT_BATCH, channels, side, side)


def check_shape(net: nn.Module) -> tuple[int, int, int, int]:
    """The input shape of the onnxruntime check: another batch size, height and width than
    :func:`export_shape`, still multiples of the network's ``window_multiple``."""
    channels, multiple = _geometry(net)
    side = _round_up(_EXPORT_SIDE, multiple)
    h, w = (side + _round_up(extra, multiple) for extra in _CHECK_EXTRA)
    return (_CHECK_BATCH, channels, h, w)


def srkit_metadata(net: nn.Module, *, fp16: bool = False, exporter: str = "dynamo") -> dict[str, str]:
    """The ``metadata_props`` entries srkit writes: ``srkit_format``, ``arch``, ``hparams`` (JSON),
    ``scale``, ``in_channels``, ``input_space``, ``window_multiple``, ``expects_upsampled_input``,
    ``precision`` (``float32``/``float16``), ``input_layout``, ``exporter`` and ``srkit_version``.

    Everything comes from the network's :class:`~srkit.archs.NetInfo` and :func:`~srkit.archs.model_spec`
    (``input_space`` is its colour space, ``window_multiple`` its size multiple and
    ``expects_upsampled_input`` whether it takes the upsampled image).
    """
    net = unwrap_model(net)
    _geometry(net)
    info = net_info(net)
    try:
        hparams_json = json.dumps(model_spec(net)["hparams"], sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{type(net).__name__}: hparams cannot be stored as JSON: {exc}") from None
    return {
        "srkit_format": METADATA_FORMAT,
        "arch": info.arch,
        "hparams": hparams_json,
        "scale": str(info.scale),
        "in_channels": str(info.in_channels),
        "input_space": info.color,
        "window_multiple": str(info.size_multiple),
        "expects_upsampled_input": json.dumps(info.input == "upsampled"),
        "precision": "float16" if fp16 else "float32",
        "input_layout": "NCHW float32 in [0, 1]",
        "exporter": exporter,
        "srkit_version": __version__,
    }


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints, warnings (deprecations, tracer warnings) and log lines
    (e.g. "torchvision is not installed")."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "torch.export")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _check_opset(opset: int | None) -> None:
    if opset is None:
        return
    onnx = require("onnx")
    latest = int(onnx.defs.onnx_opset_version())
    if isinstance(opset, bool) or not isinstance(opset, int) or not _MIN_OPSET <= opset <= latest:
        raise ConfigError(
            f"opset: {opset!r} is not supported; use an integer from {_MIN_OPSET} to {latest} "
            f"(the installed onnx {onnx.__version__} knows up to {latest})"
        )


def _export_proto(net: nn.Module, example: torch.Tensor, opset: int | None, exporter: str, name: str) -> Any:
    """Trace ``net`` on ``example`` with ``exporter``; returns an ``onnx.ModelProto``. ``name`` is what
    error messages call the network."""
    onnx = require("onnx")
    try:
        with _quiet(), torch.no_grad():
            if exporter == "dynamo":
                program = torch.onnx.export(
                    net,
                    (example,),
                    None,
                    dynamo=True,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=(dict(DYNAMIC_AXES),),
                    opset_version=opset,
                    verbose=False,
                    optimize=True,
                )
                if program is None:
                    raise RuntimeError("torch.onnx.export returned no program")
                proto = program.model_proto
            else:
                buffer = io.BytesIO()
                torch.onnx.export(
                    net,
                    (example,),
                    buffer,  # type: ignore[arg-type]  # the legacy exporter writes to file objects too
                    dynamo=False,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={
                        INPUT_NAME: dict(DYNAMIC_AXES),
                        OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"},
                    },
                    opset_version=opset,
                    do_constant_folding=True,
                )
                proto = onnx.load_model_from_string(buffer.getvalue())
    except SrkitError:
        raise
    except Exception as exc:
        hint = "; try the torchscript exporter (--exporter torchscript)" if exporter == "dynamo" else ""
        root = _root_cause(exc)
        reason = f"{type(root).__name__}: {_one_line(root)}"
        raise SrkitError(f"{name}: ONNX export ({exporter} exporter) failed: {reason}{hint}") from None
    got = _opset_of(proto)
    if opset is not None and got != opset:
        raise SrkitError(
            f"{name}: asked for opset {opset}, but the {exporter} exporter produced opset {got} "
            f"(the dynamo exporter writes opset {_DYNAMO_MIN_OPSET}+ and cannot always convert down); "
            "use --exporter torchscript for older opsets"
        )
    return proto


def _opset_of(proto: Any) -> int:
    """The default-domain (``ai.onnx``) opset of a ModelProto."""
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return -1


def _set_metadata(proto: Any, metadata: dict[str, str]) -> None:
    """Replace srkit's keys in ``proto.metadata_props`` (other entries are kept)."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in metadata]
    del proto.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    arch, scale = metadata.get("arch", "?"), metadata.get("scale", "?")
    proto.doc_string = f"srkit {arch} x{scale} ({metadata.get('precision', 'float32')})"


def read_onnx_metadata(source: str | Path | bytes) -> dict[str, str]:
    """``metadata_props`` of an ONNX model file (or serialized bytes) as a dict."""
    onnx = require("onnx", "reading ONNX metadata")
    try:
        if isinstance(source, bytes):
            proto = onnx.load_model_from_string(source)
        else:
            proto = onnx.load(str(source), load_external_data=False)
    except Exception as exc:
        label = "model" if isinstance(source, bytes) else str(source)
        raise SrkitError(f"{label}: not an ONNX model ({_one_line(exc)})") from None
    return {p.key: p.value for p in proto.metadata_props}


def check_onnx(
    source: str | Path | bytes,
    model: nn.Module,
    shape: tuple[int, ...],
    *,
    tolerance: float = CHECK_TOLERANCE,
    relative: bool = False,
    seed: int = _CHECK_SEED,
) -> float:
    """Run the ONNX model with onnxruntime (``CPUExecutionProvider``) on a random input of ``shape``
    (uniform in [0, 1], seeded) and compare it with ``model`` in float32 on the CPU.

    Returns the max-abs difference, which must be below ``tolerance`` (``relative``: below
    ``tolerance * max(1, max |PyTorch output|)``).

    Raises:
        SrkitError: onnxruntime missing, the model does not load or run, the output shape differs, or
            the difference is too large (or not finite).
    """
    require("onnxruntime", "checking an ONNX export")
    return _compare(source, _plain_copy(model), shape, tolerance=tolerance, relative=relative, seed=seed)


def _compare(
    source: str | Path | bytes,
    net: nn.Module,
    shape: tuple[int, ...],
    *,
    tolerance: float,
    relative: bool,
    seed: int = _CHECK_SEED,
) -> float:
    """:func:`check_onnx` on a network that already is a float32 eval-mode CPU module."""
    ort = require("onnxruntime", "checking an ONNX export")
    label = "ONNX model" if isinstance(source, bytes) else str(source)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    runner = Runner(net, device="cpu", precision="fp32", channels_last=False)
    with torch.inference_mode():
        ref = runner.network(x, runner.scale).float().numpy().astype("float64")
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            source if isinstance(source, bytes) else str(source), options, providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    except Exception as exc:
        raise SrkitError(
            f"{label}: onnxruntime cannot run it on a {_shape(shape)} input: {_one_line(exc)}"
        ) from None
    if tuple(got.shape) != tuple(ref.shape):
        raise SrkitError(
            f"{label}: onnxruntime returned shape {_shape(got.shape)} for a {_shape(shape)} input; "
            f"PyTorch returns {_shape(ref.shape)}"
        )
    diff = float(abs(got.astype("float64") - ref).max()) if ref.size else 0.0
    allowed = tolerance * max(1.0, float(abs(ref).max())) if relative and ref.size else tolerance
    if not diff < allowed:  # also catches NaN
        raise SrkitError(
            f"{label}: onnxruntime output differs from PyTorch float32 by {diff:.3g} (max abs) on a "
            f"{_shape(shape)} input; allowed < {allowed:.3g}"
        )
    return diff


def _shape(shape: tuple[int, ...] | Any) -> str:
    return "x".join(str(int(s)) for s in shape)


def export_onnx_report(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int | None = None,
    check: bool = True,
    fp16: bool = False,
    exporter: str = "dynamo",
) -> ExportReport:
    """:func:`export_onnx`, returning what was written and the check's result."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"export: expected a network (nn.Module), got {type(model).__name__}")
    if exporter not in EXPORTERS:
        raise ConfigError(f"exporter: {exporter!r} is not supported; valid: {', '.join(EXPORTERS)}")
    path = Path(path)
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder; give the ONNX file to write, e.g. {path / 'model.onnx'}")
    # Fail on missing packages before spending time on the export.
    onnx = require("onnx")
    if exporter == "dynamo":
        require("onnxscript")
    if check:
        require("onnxruntime", "checking an ONNX export")
    _check_opset(opset)

    net = _plain_copy(model)
    metadata = srkit_metadata(net, fp16=fp16, exporter=exporter)
    traced: nn.Module = _Float16Net(copy.deepcopy(net).half()) if fp16 else net
    example = torch.rand(export_shape(net), generator=torch.Generator().manual_seed(_CHECK_SEED + 1))
    proto = _export_proto(traced, example, opset, exporter, f"{metadata['arch']} x{metadata['scale']}")
    _set_metadata(proto, metadata)
    try:
        data = proto.SerializeToString()
    except ValueError as exc:  # protobuf refuses messages over 2 GiB
        raise SrkitError(
            f"{path}: the model does not fit in one ONNX file (2 GiB protobuf limit): {_one_line(exc)}"
        ) from None
    try:
        onnx.checker.check_model(data)
    except Exception as exc:  # onnx.checker.ValidationError
        raise SrkitError(f"{path}: the exported model is not valid ONNX: {_one_line(exc)}") from None

    shape: tuple[int, ...] | None = None
    diff: float | None = None
    if check:
        shape = check_shape(net)
        tolerance = FP16_CHECK_TOLERANCE if fp16 else CHECK_TOLERANCE
        diff = _compare(data, net, shape, tolerance=tolerance, relative=fp16)

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise SrkitError(f"{path}: cannot write the ONNX model: {_one_line(exc)}") from exc
    return ExportReport(
        path=path,
        exporter=exporter,
        opset=_opset_of(proto),
        fp16=fp16,
        nbytes=len(data),
        metadata=metadata,
        check_shape=shape,
        max_abs_diff=diff,
    )


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int | None = None,
    check: bool = True,
    fp16: bool = False,
    exporter: str = "dynamo",
) -> Path:
    """Export the bare network ``model`` to the ONNX file ``path``; returns ``path``.

    The model's input ``input`` is ``(batch, C, height, width)`` float32 (``C`` = the network's
    ``in_channels``: 3 for RGB, 1 for Y networks, which take Y of BT.601 YCbCr divided by 255), all
    three sizes dynamic (height and width must be multiples of the network's ``window_multiple``);
    the output ``output`` is ``(batch, C, scale*height, scale*width)`` float32, not clamped. srkit's
    metadata (see :func:`srkit_metadata`) is stored in ``metadata_props``. ``model`` itself is not
    modified (a float32 CPU copy is exported).

    Args:
        model: an srkit network (or any ``nn.Module`` with a ``scale`` attribute).
        path: the ``.onnx`` file; written atomically, parent folders created.
        opset: ONNX opset (default: the exporter's own).
        check: verify with onnxruntime before writing: a random input of another size and batch than
            the export example must give PyTorch's float32 output within :data:`CHECK_TOLERANCE`
            (``fp16``: :data:`FP16_CHECK_TOLERANCE` x ``max(1, max |output|)``).
        fp16: float16 weights and arithmetic behind float32 input and output.
        exporter: ``'dynamo'`` (default) or ``'torchscript'`` (legacy, for old opsets or networks the
            dynamo exporter cannot capture).

    Raises:
        SrkitError: one line: a missing ONNX package (naming the ``onnx`` extra), an export failure,
            a failed check (nothing is written then) or an unwritable path.
    """
    return export_onnx_report(model, path, opset=opset, check=check, fp16=fp16, exporter=exporter).path
