"""The training-state file (``runs/<name>/state.pt``): everything an exact resume needs.

Contents (a plain mapping of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` and never runs pickled code):

- ``format`` (:data:`STATE_FORMAT`), ``version``, ``step`` (optimiser steps done), ``world_size``;
- ``model`` (the network's ``state_dict``), ``ema`` (:meth:`EMA.state_dict` or ``None``);
- ``objective`` (the objective's own state: optimisers, schedulers, and e.g. group weights);
- ``scaler`` (fp16 ``GradScaler`` state or ``None``);
- ``rng``: one entry per process of the Python, NumPy and torch (CPU and CUDA) generators, as tensors;
- ``trainer``: the loop's own bookkeeping (best validation metric and its step);
- ``config``: the resolved configuration as plain values.

The data position is the step itself: the training loader is rebuilt with ``start_step=step`` (see
:func:`srkit.data.sampler.build_train_loader`). Files are written with :func:`srkit.io.atomic.atomic_open`,
so a crash while saving leaves the previous state intact; a failed write (a full disk) is one line naming
the file (:func:`srkit.train.disk.write_failure`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_open
from srkit.train.disk import write_failure

STATE_FORMAT = "srkit-train-state"
STATE_VERSION = 1
STATE_FILE = "state.pt"


# --------------------------------------------------------------------------------------------------
# RNG states as tensors
# --------------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch RNG states, as tensors and plain values."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the generators back to what :func:`capture_rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor moved to the CPU (mappings, lists and tuples walked)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training state atomically (tensors moved to the CPU first); returns ``path``."""
    path = Path(path)
    payload = {"format": STATE_FORMAT, "version": STATE_VERSION, **_to_cpu(state)}
    try:
        with atomic_open(path, "wb") as handle:
            torch.save(payload, handle)
    except (OSError, RuntimeError) as err:  # RuntimeError: torch's zip writer after a short write
        raise write_failure(path, "the training state", err) from err
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state written by :func:`save_state` (``weights_only=True``, on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise SrkitError(f"{path}: no training state here (nothing to resume)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a torch file, unsafe pickle
        text = " ".join(str(err).split())[:200]
        raise SrkitError(f"{path}: cannot read the training state ({text})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SrkitError(f"{path}: not an srkit training state")
    if state.get("version") != STATE_VERSION:
        raise SrkitError(
            f"{path}: training state version {state.get('version')!r} is not supported "
            f"(this srkit reads version {STATE_VERSION})"
        )
    return state


def resolve_state_path(path: str | Path) -> Path:
    """A state file, or a run folder holding ``state.pt``."""
    path = Path(path).expanduser()
    return path / STATE_FILE if path.is_dir() else path
