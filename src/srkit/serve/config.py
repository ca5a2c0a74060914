"""The settings of ``srkit serve`` and the loopback rule for its address; no web framework imported."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from srkit.errors import ConfigError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_UPLOAD_MB",
    "DEFAULT_PORT",
    "PRECISIONS",
    "ServeConfig",
    "check_host",
    "is_loopback",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 50
#: Finished jobs kept (with their files) before the oldest is removed.
DEFAULT_MAX_JOBS = 64
#: The ``--precision`` values the page offers (those of ``srkit upscale``).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ServeConfig:
    """How the server runs.

    Attributes:
        host, port: where it listens (loopback unless ``allow_remote``).
        max_upload_mb: largest upload in MiB; larger ones are refused with 413.
        allow_remote: serve on a non-loopback address and accept any ``Host`` header.
        device: where the models run (``auto``, ``cpu``, ``cuda``).
        max_jobs: finished jobs kept before the oldest (and its files) is removed.
        model_files: weight files offered on the page besides the named models (``--model FILE``), by
            their file stem; only these, never a path a request names.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    allow_remote: bool = False
    device: str = "auto"
    max_jobs: int = DEFAULT_MAX_JOBS
    model_files: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        for path in self.model_files:
            if not path.is_file():
                raise ConfigError(f"--model: {path}: no such weight file")
        stems = [p.stem for p in self.model_files]
        if len(set(stems)) != len(stems):
            raise ConfigError(f"--model: two weight files share a name: {', '.join(stems)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port: must be from 0 to 65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise ConfigError(f"--max-upload-mb: must be a positive number, got {self.max_upload_mb:g}")
        if self.max_jobs < 1:
            raise ConfigError(f"max_jobs: must be a positive integer, got {self.max_jobs}")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes (MiB)."""
        return int(self.max_upload_mb * 1024 * 1024)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or a name) means this machine only: ``localhost`` or an address
    of 127.0.0.0/8 or ``::1``; a name counts when every address it resolves to is loopback."""
    text = host.strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def check_host(host: str, allow_remote: bool) -> str | None:
    """``None`` for a loopback ``host``; for another one a one-line warning when ``allow_remote``.

    Raises:
        ConfigError: a non-loopback ``host`` without ``allow_remote``.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ConfigError(
            f"--host {host}: not a loopback address; srkit serve has no login, so anyone who can reach it "
            "could upload images and run models: add --allow-remote to serve there anyway"
        )
    return (
        f"serving on {host} with --allow-remote: anyone who can reach this address can upload images and "
        "run models (there is no login)"
    )
