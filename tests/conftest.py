"""Shared fixtures. Reference data comes from one setting, ``SRKIT_SHARED`` (default ``../shared``
beside the checkout); tests that need it skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from srkit.settings import shared_dir

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one thread per worker; oversubscribed threads make tiny convs ~100x slower.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _keep_threads():
    """Every test leaves torch's thread count as it found it (training sets it from its config)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _shared_sub(*parts: str) -> Path:
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"reference data {path} is absent (set SRKIT_SHARED to the folder holding data/ and weights/)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$SRKIT_SHARED/data`` (Set5, Set14, Set5_LR_bicubic, BSDS500)."""
    return _shared_sub("data")


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """``$SRKIT_SHARED/weights`` (third-party FSRCNN and VDSR checkpoints)."""
    return _shared_sub("weights")
