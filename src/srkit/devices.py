"""Where a network runs and in what arithmetic: one resolution of ``--device`` / ``train.device`` and
``--precision`` / ``train.precision`` for inference and training alike."""

from __future__ import annotations

import torch

from srkit.errors import ConfigError

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN is available and the CPU computes bfloat16 natively (AMX tiles or
    AVX512-BF16), i.e. when bf16 autocast is faster than float32 rather than emulated."""
    if not torch.backends.mkldnn.is_available():
        return False
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)  # private helpers; absent in some builds
        try:
            if check is not None and check():
                return True
        except Exception:  # a probe that fails means "unknown": fall back to float32
            continue
    return False


def resolve_device(
    device: str | torch.device = "auto", *, local_rank: int | None = None, key: str = "device"
) -> torch.device:
    """``'auto'`` -> CUDA when available, else the CPU; any other value must name an available device.

    ``local_rank`` (training, one process per GPU): a CUDA device without an index is
    ``cuda:<local_rank % device count>``. ``key`` is the setting named in errors.

    Raises:
        ConfigError: an unparsable device or CUDA asked for where there is none.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ConfigError(f"{key}: {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"{key}: {device!r} asked for, but CUDA is not available here; use cpu or auto")
    if local_rank is not None and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


def resolve_precision(precision: str, device: torch.device, *, training: bool = False) -> str:
    """The concrete precision (``'fp32'``, ``'bf16'``, ``'fp16'``) for ``precision`` on ``device``.

    ``'auto'``: on CUDA, fp16 autocast for inference, and for training bf16 where the GPU has it (no loss
    scaling, fp32's range), else fp16 (with the loop's GradScaler); bf16 autocast on a CPU with native
    bf16 (see :func:`cpu_has_fast_bf16`; where bf16 is emulated, as on AVX2-only CPUs, it is several
    times slower than fp32); fp32 otherwise.
    """
    key = precision.strip().lower() if isinstance(precision, str) else precision
    if key not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not supported; valid: {', '.join(PRECISIONS)}")
    if key != "auto":
        return key
    if device.type == "cuda":
        return "bf16" if training and torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def autocast_dtype(precision: str, device: torch.device, *, key: str = "precision") -> torch.dtype | None:
    """The autocast dtype of a concrete precision on ``device`` (``None`` for fp32), strictly: a
    ConfigError naming ``key`` where the device cannot run it (fp16 off CUDA, bf16 on a GPU without it)."""
    if precision == "fp32":
        return None
    if precision not in AUTOCAST_DTYPES:
        raise ConfigError(f"{key}: {precision!r} is not supported; valid: fp32, {', '.join(AUTOCAST_DTYPES)}")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"{key}: fp16 needs CUDA; use bf16 on CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"{key}: this GPU has no bf16 support; use fp16")
    return AUTOCAST_DTYPES[precision]
