"""The Starlette application of ``srkit serve``: one page and a small JSON API.

=======  =============================  ==========================================================
method   path                           what
=======  =============================  ==========================================================
GET      ``/``                          the page (inline HTML, CSS and JS; nothing external)
GET      ``/api/models``                the models offered (:func:`srkit.serve.choices.model_choices`)
POST     ``/api/jobs?name=N&model=M..`` upload one image (the raw body, ``application/octet-stream``)
                                        with ``model`` (repeatable), ``scale``, ``tile``, ``precision``;
                                        201 with the job (a bad image: the job's one-line ``error``),
                                        400 bad options, 413 too large, 415 another content type
GET      ``/api/jobs/ID``               the job: state, and per model tiles done / total, errors, URLs
GET      ``/api/jobs/ID/events``        the same, streamed as server-sent events until it finishes
GET      ``/api/jobs/ID/input``         the uploaded image (a PNG preview for TIFF)
GET      ``/api/jobs/ID/results/I``     run ``I``'s result as a download; ``?view=1``: inline preview
=======  =============================  ==========================================================

Every error is ``{"error": "<one line>"}``. The body of an upload is streamed into the job's folder
and refused (413) as soon as it passes the limit, so nothing is spooled elsewhere. Unless
``--allow-remote``, requests must name a loopback host (``Host:`` header), which keeps other web sites
from reaching the server through DNS rebinding; an upload needs the non-form content type
``application/octet-stream``, which a cross-site form cannot send without the browser asking first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import ipaddress
import json
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from srkit.errors import SrkitError, one_line
from srkit.serve.choices import default_choice, model_choices
from srkit.serve.config import PRECISIONS, ServeConfig
from srkit.serve.jobs import Job, JobStore, parse_options, safe_name
from srkit.version import __version__

__all__ = ["create_app"]

#: Seconds between two progress events of a running job.
EVENT_INTERVAL = 0.2
_Handler = Callable[[Request], Awaitable[Response]]


class UploadTooLarge(SrkitError):
    """An upload passed ``--max-upload-mb``."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _one_line_errors(handler: _Handler) -> _Handler:
    """``handler`` with an :class:`SrkitError` answered 400 and anything else 500, one line each (and
    one line on the server's stderr for the unexpected), never a traceback."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SrkitError as exc:
            return _error(400, one_line(exc))
        except Exception as exc:
            message = f"{type(exc).__name__}: {one_line(exc, 300)}"
            print(f"srkit serve: {request.method} {request.url.path}: {message}", file=sys.stderr)
            return _error(500, message)

    return wrapped


def _store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store
    return store


def _job(request: Request) -> Job | None:
    return _store(request).get(str(request.path_params["job_id"]))


def _no_job() -> JSONResponse:
    return _error(404, "job: no such job (finished jobs are removed after a while, and all on restart)")


def _size_text(config: ServeConfig) -> str:
    return f"{config.max_upload_mb:g} MB"


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


@functools.cache
def _page_template() -> str:
    return resources.files("srkit.serve").joinpath("page.html").read_text(encoding="utf-8")


def _page_config(config: ServeConfig) -> str:
    """The page's settings as JSON that is safe inside a ``<script>`` element."""
    choices = model_choices(config.model_files)
    data = {
        "models": [c.to_json() for c in choices],
        "default_model": default_choice(choices),
        "precisions": list(PRECISIONS),
        "max_upload_bytes": config.max_upload_bytes,
        "max_upload_text": _size_text(config),
        "version": __version__,
    }
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def page(request: Request) -> Response:
    """The page, its inline script and style allowed by a per-response nonce (Content-Security-Policy)."""
    nonce = secrets.token_urlsafe(16)
    config = _store(request).config
    text = _page_template().replace("__SRKIT_NONCE__", html.escape(nonce))
    text = text.replace("__SRKIT_CONFIG__", _page_config(config))
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(text, headers={"Content-Security-Policy": policy})


async def models(request: Request) -> Response:
    """The models offered, and the one ticked by default."""
    choices = model_choices(_store(request).config.model_files)
    return JSONResponse({"models": [c.to_json() for c in choices], "default": default_choice(choices)})


# --------------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------------


async def _receive(request: Request, path: Path, limit: int) -> int:
    """Stream the request body into ``path`` (a new file); its size, or :class:`UploadTooLarge` as soon
    as it passes ``limit`` bytes."""
    size = 0
    with open(path, "xb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(str(size))
            out.write(chunk)
    return size


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


@_one_line_errors
async def create_job(request: Request) -> Response:
    """Store an uploaded image in a new job's folder, check it and queue its models."""
    store = _store(request)
    config = store.config
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/octet-stream":
        return _error(415, "upload: send the image file as the body, Content-Type: application/octet-stream")
    params = request.query_params
    name = safe_name(params.get("name", ""))
    too_large = f"upload: {name} is larger than the {_size_text(config)} limit (srkit serve --max-upload-mb)"
    length = _content_length(request)
    if length is not None and length > config.max_upload_bytes:
        return _error(413, too_large)
    options = parse_options(
        params.getlist("model"),
        params.get("scale"),
        params.get("tile"),
        params.get("precision"),
        model_choices(config.model_files),
    )
    job = store.create(name, options)
    try:
        await _receive(request, job.source, config.max_upload_bytes)
    except UploadTooLarge:
        store.discard(job)
        return _error(413, too_large)
    except ClientDisconnect:
        store.discard(job)
        return _error(400, f"upload: {name}: the upload was interrupted")
    except BaseException:
        store.discard(job)
        raise
    await run_in_threadpool(store.admit, job)
    return JSONResponse(job.snapshot(), status_code=201)


# --------------------------------------------------------------------------------------------------
# Jobs and their files
# --------------------------------------------------------------------------------------------------


@_one_line_errors
async def job_status(request: Request) -> Response:
    """The job as JSON."""
    job = _job(request)
    return _no_job() if job is None else JSONResponse(job.snapshot())


async def _events(job: Job, store: JobStore) -> AsyncIterator[str]:
    """The job's snapshot each time it changes, until it is finished (or the server stops)."""
    last = None
    yield "retry: 1000\n\n"
    while True:
        snapshot = job.snapshot()
        text = json.dumps(snapshot)
        if text != last:
            yield f"data: {text}\n\n"
            last = text
        if job.finished or store.closing:
            return
        await asyncio.sleep(EVENT_INTERVAL)


@_one_line_errors
async def job_events(request: Request) -> Response:
    """Server-sent events with the job's progress."""
    job = _job(request)
    if job is None:
        return _no_job()
    return StreamingResponse(
        _events(job, _store(request)), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@_one_line_errors
async def job_input(request: Request) -> Response:
    """The uploaded image, shown inline (TIFF as a PNG preview)."""
    job = _job(request)
    if job is None or job.error is not None or not job.source.is_file():
        return _no_job()
    path = await run_in_threadpool(_store(request).preview_path, job, job.source)
    return FileResponse(path)


@_one_line_errors
async def job_result(request: Request) -> Response:
    """Run ``index``'s result: a download named ``<stem>_<model>_x<scale>.<ext>``, or ``?view=1`` inline."""
    job = _job(request)
    if job is None:
        return _no_job()
    store = _store(request)
    index = int(request.path_params["index"])
    path = store.result_path(job, index)
    if path is None or not path.is_file():
        return _error(404, f"job {job.id}: result {index} is not ready")
    if request.query_params.get("view"):
        return FileResponse(await run_in_threadpool(store.preview_path, job, path))
    return FileResponse(path, filename=job.result_name(job.runs[index]))


# --------------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------------


def _host_name(header: str) -> str:
    """The host of a ``Host:`` header, without the port (``[::1]:8000`` -> ``::1``)."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _loopback_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Guard:
    """ASGI middleware: refuses requests whose ``Host:`` is not loopback (unless ``allow_remote``) and
    adds ``nosniff``, ``no-referrer`` and ``no-store`` headers to every response."""

    def __init__(self, app: ASGIApp, allow_remote: bool) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.allow_remote and not _loopback_name(_host_name(headers.get("host", ""))):
            response = _error(400, "host: this server answers only requests to a loopback address")
            await response(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                ]
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    e for e in extra if e[0] not in names
                ]
            await send(message)

        await self.app(scope, receive, send_guarded)


def create_app(config: ServeConfig, store: JobStore | None = None) -> Starlette:
    """The application. Its :class:`~srkit.serve.jobs.JobStore` (``app.state.store``; a new one, with a
    new temporary folder, unless given) is closed, and the folder removed, when the application shuts
    down (the ASGI lifespan's shutdown)."""
    store = store or JobStore(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(store.close)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/models", models, methods=["GET"]),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_status, methods=["GET"]),
        Route("/api/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/api/jobs/{job_id}/input", job_input, methods=["GET"]),
        Route("/api/jobs/{job_id}/results/{index:int}", job_result, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"{request.url.path}: not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} {request.url.path}: method not allowed")

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.store = store
    app.add_middleware(_Guard, allow_remote=config.allow_remote)
    return app
