"""Listening: the socket is bound here (one-line errors, ``--port 0`` picks a free port) and handed to
uvicorn, which runs the application until Ctrl+C or SIGTERM; the temporary folder is removed then."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from srkit.errors import ConfigError, SrkitError
from srkit.serve.app import create_app
from srkit.serve.config import ServeConfig

__all__ = ["listen", "serve"]

#: Seconds uvicorn waits for open connections (a progress stream) when stopping.
GRACEFUL_SHUTDOWN = 3


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port) and listening.

    Raises:
        ConfigError: one line: an unknown host or a port that cannot be used.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"--host {host}: unknown host ({getattr(exc, 'strerror', None) or exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(config: ServeConfig, echo: Callable[[str], None] | None = None) -> None:
    """Serve the page on ``config.host``:``config.port`` until Ctrl+C or SIGTERM; says where on stdout
    (flushed, so a parent process can read the URL), and removes the temporary folder however it stops
    (the application's shutdown, and here again)."""
    sock = listen(config.host, config.port)
    app = create_app(config)
    store = app.state.store
    say = echo or (lambda text: print(text, flush=True))
    say(f"srkit serve: {url_of(sock)} (temporary folder {store.root}; Ctrl+C stops)")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl+C, re-raised by uvicorn once it has shut down: the usual way to stop
        say("srkit serve: stopped; its temporary folder is removed")
        return
    finally:
        store.close()
        sock.close()
    if not server.started:
        raise SrkitError("serve: the server did not start (uvicorn said why above)")
