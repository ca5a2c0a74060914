"""A static-file HTTP server on 127.0.0.1 for the download tests (the model zoo, ``srkit fetch-weights``):
it counts requests per path and can serve chosen paths with one byte flipped (a corrupted download)."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class CorruptingHandler(SimpleHTTPRequestHandler):
    """Static files; paths in ``corrupt`` are served with one byte flipped (same length)."""

    counts: Counter
    corrupt: set

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.counts[self.path] += 1
        super().do_GET()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        if self.path not in self.corrupt:
            super().copyfile(source, outputfile)
            return
        data = bytearray(source.read())
        data[len(data) // 2] ^= 0xFF
        outputfile.write(bytes(data))


class LocalServer:
    """Serves ``root`` on a free loopback port (``url``) until :meth:`stop`."""

    def __init__(self, root: Path) -> None:
        self.counts: Counter = Counter()
        self.corrupt: set[str] = set()
        handler = type("Handler", (CorruptingHandler,), {"counts": self.counts, "corrupt": self.corrupt})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.running = False
