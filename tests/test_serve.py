"""``srkit serve`` without a browser: the API through Starlette's TestClient and a real uvicorn server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

pytest.importorskip("starlette", reason="srkit serve needs the serve extra: pip install 'srkit[serve]'")
pytest.importorskip("uvicorn", reason="srkit serve needs the serve extra: pip install 'srkit[serve]'")

import srkit
from srkit.archs import InterpolationUpscaler
from srkit.cli import main
from srkit.errors import ConfigError
from srkit.infer.tiling import tile_count
from srkit.io import read_image, write_image
from srkit.serve.app import create_app
from srkit.serve.config import ServeConfig, check_host, is_loopback
from srkit.serve.jobs import CountingUpscaler, JobStore, safe_name

COFFEE = Path(srkit.__file__).parent / "assets" / "coffee.png"
BASE = "http://127.0.0.1:8000"
OCTET = {"content-type": "application/octet-stream"}
WAIT_S = 60


@pytest.fixture
def client() -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(create_app(ServeConfig()), base_url=BASE) as test_client:
        yield test_client


def _upload(client: Any, data: bytes, name: str, **options: Any) -> Any:
    params = {"name": name, "model": "bicubic", "scale": "2", **options}
    return client.post("/api/jobs", params=params, content=data, headers=OCTET)


def _wait(client: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {WAIT_S} s")


def _one_line(message: Any) -> None:
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message and "srkit-serve-" not in message  # never the server's folder


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _store(client: Any) -> JobStore:
    store: JobStore = client.app.state.store
    return store


def test_upload_bicubic_x2_and_download(client: Any) -> None:
    created = _upload(client, COFFEE.read_bytes(), "coffee.png", tile="128")
    assert created.status_code == 201, created.text
    job = _wait(client, created.json()["id"])
    assert job["state"] == "done" and job["width"] == 600 and job["height"] == 400
    (run,) = job["runs"]
    assert run["state"] == "done" and run["scale"] == 2 and run["error"] is None
    # progress: one upscaler call per tile, the total from the tile grid (bicubic overlap 16)
    assert run["done"] == run["total"] == tile_count(400, 600, 128, 16) > 1
    assert (run["width"], run["height"]) == (1200, 800)
    download = client.get(run["download_url"])
    assert download.status_code == 200
    assert 'filename="coffee_bicubic_x2.png"' in download.headers["content-disposition"]
    with PILImage.open(io.BytesIO(download.content)) as im:
        assert im.format == "PNG" and im.size == (1200, 800) and im.mode == "RGB"
        got = np.asarray(im)
    expected = srkit.load_model("bicubic", scale=2, tile=128).upscale(COFFEE)
    np.testing.assert_array_equal(got, expected)
    view = client.get(run["view_url"])
    assert view.status_code == 200 and "attachment" not in view.headers.get("content-disposition", "")
    assert client.get(job["input_url"]).content == COFFEE.read_bytes()


def test_progress_streams_as_server_sent_events(client: Any) -> None:
    job_id = _upload(client, COFFEE.read_bytes(), "coffee.png", tile="64").json()["id"]
    events = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    assert events[-1]["state"] == "done"
    done = [e["runs"][0]["done"] for e in events]
    assert done == sorted(done) and done[-1] == events[-1]["runs"][0]["total"] > 1


def test_several_models_side_by_side(client: Any) -> None:
    params = {"name": "coffee.png", "model": ["bicubic", "nearest"], "scale": "3", "tile": "0"}
    job = _wait(
        client,
        client.post("/api/jobs", params=params, content=COFFEE.read_bytes(), headers=OCTET).json()["id"],
    )
    assert [r["model"] for r in job["runs"]] == ["bicubic", "nearest"]
    names = set()
    for run in job["runs"]:
        assert run["state"] == "done" and (run["width"], run["height"]) == (1800, 1200)
        names.add(run["filename"])
        with PILImage.open(io.BytesIO(client.get(run["download_url"]).content)) as im:
            assert im.size == (1800, 1200)
    assert names == {"coffee_bicubic_x3.png", "coffee_nearest_x3.png"}


def test_format_rules_of_srkit_upscale(client: Any, tmp_path: Path) -> None:
    """16 bits and alpha are kept, as ``srkit upscale`` keeps them."""
    rng = np.random.default_rng(0)
    source = tmp_path / "deep.png"
    write_image(source, rng.integers(0, 65536, (24, 32, 4), dtype=np.uint16))
    job = _wait(client, _upload(client, source.read_bytes(), "deep.png", tile="0").json()["id"])
    (run,) = job["runs"]
    result = tmp_path / run["filename"]
    result.write_bytes(client.get(run["download_url"]).content)
    image = read_image(result)
    assert image.info.bit_depth == 16 and image.alpha is not None and (image.width, image.height) == (64, 48)


def test_bad_file_gives_one_line_error(client: Any) -> None:
    created = _upload(client, os.urandom(4096), "x.png")
    assert created.status_code == 201
    job = created.json()
    assert job["state"] == "failed" and job["input_url"] is None
    _one_line(job["error"])
    assert job["error"].startswith("x.png: ")
    assert client.get(f"/api/jobs/{job['id']}").json()["error"] == job["error"]
    assert all(run["state"] == "failed" for run in job["runs"])
    assert not any(_store(client).root.joinpath(job["id"]).iterdir())  # the upload is not kept


def test_pixel_limit_is_srkit_io_s(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "1000")
    job = _upload(client, COFFEE.read_bytes(), "coffee.png").json()
    assert job["state"] == "failed" and job["error"].startswith("coffee.png: ")
    _one_line(job["error"])
    assert "pixels" in job["error"]


def test_too_large_upload_is_refused() -> None:
    from starlette.testclient import TestClient

    with TestClient(create_app(ServeConfig(max_upload_mb=0.01)), base_url=BASE) as client:
        refused = _upload(client, COFFEE.read_bytes(), "coffee.png")
        assert refused.status_code == 413
        _one_line(refused.json()["error"])
        assert "0.01 MB" in refused.json()["error"] and "--max-upload-mb" in refused.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused while it streams
            data = COFFEE.read_bytes()
            for start in range(0, len(data), 4096):
                yield data[start : start + 4096]

        streamed = client.post(
            "/api/jobs", params={"name": "c.png", "model": "bicubic"}, content=chunks(), headers=OCTET
        )
        assert streamed.status_code == 413
        assert not any(_store(client).root.iterdir())  # nothing of either upload is left


def test_bad_options_are_one_line_400s(client: Any) -> None:
    data = COFFEE.read_bytes()
    for options, word in [
        ({"model": "/etc/passwd"}, "model"),
        ({"model": "edsr-not-a-model"}, "model"),
        ({"scale": "two"}, "scale"),
        ({"scale": "99"}, "scale"),
        ({"tile": "3"}, "tile"),
        ({"precision": "int4"}, "precision"),
    ]:
        response = _upload(client, data, "coffee.png", **options)
        assert response.status_code == 400, options
        _one_line(response.json()["error"])
        assert response.json()["error"].startswith(word)
    not_image = _upload(client, data, "notes.txt")
    assert not_image.status_code == 400 and not_image.json()["error"].startswith("notes.txt: not an image")
    form = client.post("/api/jobs", params={"name": "coffee.png", "model": "bicubic"}, content=data)
    assert form.status_code == 415
    assert not any(_store(client).root.iterdir())


def test_unsupported_scale_is_the_run_s_error(client: Any) -> None:
    names = {c["name"] for c in client.get("/api/models").json()["models"]}
    if "edsr-baseline-x2" not in names:
        pytest.skip("the named model edsr-baseline-x2 is not installed")
    job = _wait(
        client,
        _upload(client, COFFEE.read_bytes(), "coffee.png", model="edsr-baseline-x2", scale="3").json()["id"],
    )
    (run,) = job["runs"]
    assert run["state"] == "failed"
    _one_line(run["error"])
    assert "x3" in run["error"]


def test_names_and_ids_cannot_escape_the_temporary_folder(client: Any) -> None:
    store = _store(client)
    escapes = [store.root.parent / "evil.png", store.root.parent.parent / "evil.png", Path("/etc/evil.png")]
    assert not any(path.exists() for path in escapes)
    for name in ["../../evil.png", "..\\..\\evil.png", "/etc/evil.png", "sub/../../evil.png"]:
        job = _wait(client, _upload(client, COFFEE.read_bytes(), name, tile="0").json()["id"])
        assert job["name"] == "evil.png" and job["state"] == "done"
        assert (store.root / job["id"] / "evil.png").is_file()
    assert not any(path.exists() for path in escapes)  # nothing was written beside the folder
    for path in store.root.rglob("*"):
        assert path.resolve().is_relative_to(store.root.resolve())
    job_id = job["id"]
    for url in [
        "/api/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/../../etc/passwd",
        f"/api/jobs/{job_id}%2F..%2F..",
        f"/api/jobs/{job_id}/results/..%2F..%2Fevil.png",
        f"/api/jobs/{job_id}/results/-1",
        f"/api/jobs/{job_id}/results/5",
        f"/api/jobs/{'0' * 32}",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        _one_line(response.json()["error"])
    assert safe_name(".hidden.png") == "hidden.png"
    assert safe_name("a b;rm -rf.PNG") == "a b_rm -rf.PNG"
    with pytest.raises(ConfigError, match="not an image file name"):
        safe_name("..")


def test_other_hosts_are_refused(client: Any) -> None:
    """DNS rebinding: a page of another site resolving its name to 127.0.0.1 reaches no job."""
    refused = client.get("/", headers={"host": "attacker.example:8000"})
    assert refused.status_code == 400
    _one_line(refused.json()["error"])
    for host in ["localhost:8000", "127.0.0.1", "[::1]:8000"]:
        assert client.get("/api/models", headers={"host": host}).status_code == 200


def test_page_is_self_contained(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "http://" not in text and "https://" not in text  # no CDN, nothing external
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "nonce-" in policy
    assert 'id="files"' in text and 'type="file"' in text and '"bicubic"' in text
    assert "__SRKIT" not in text


@pytest.fixture
def live_server() -> Iterator[tuple[str, JobStore]]:
    """A real uvicorn server on a free loopback port, in a thread."""
    import uvicorn

    from srkit.serve.server import listen, url_of

    sock = listen("127.0.0.1", 0)
    app = create_app(ServeConfig(port=0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield url_of(sock).rstrip("/"), app.state.store
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
    assert not app.state.store.root.exists()  # removed on shutdown


def test_concurrent_jobs_get_their_own_results(live_server: tuple[str, JobStore], tmp_path: Path) -> None:
    httpx2 = pytest.importorskip("httpx2", reason="the dev extra's httpx2 is absent")
    url, _ = live_server
    coffee = np.asarray(PILImage.open(COFFEE).convert("RGB"))
    inputs = {
        "a.png": coffee[:200, :300],
        "b.png": np.ascontiguousarray(coffee[100:, ::-1][:160, :240]),
        "c.png": np.ascontiguousarray(coffee[::2, ::2].transpose(1, 0, 2)),
    }
    results: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def one(name: str, array: np.ndarray) -> None:
        try:
            with httpx2.Client(base_url=url, timeout=WAIT_S) as http:
                created = _upload(http, _png(array), name, tile="0")
                assert created.status_code == 201, created.text
                job = _wait(http, created.json()["id"])
                assert job["state"] == "done", job
                with PILImage.open(io.BytesIO(http.get(job["runs"][0]["download_url"]).content)) as im:
                    results[name] = np.asarray(im)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=item) for item in inputs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert not errors, errors
    model = srkit.load_model("bicubic", scale=2, tile=0)
    for name, array in inputs.items():
        assert results[name].shape == (2 * array.shape[0], 2 * array.shape[1], 3)
        np.testing.assert_array_equal(results[name], model.upscale(array))


def test_temporary_folder_is_removed_on_shutdown() -> None:
    from starlette.testclient import TestClient

    app = create_app(ServeConfig())
    root = app.state.store.root
    with TestClient(app, base_url=BASE) as client:
        _wait(client, _upload(client, COFFEE.read_bytes(), "coffee.png", tile="0").json()["id"])
        assert any(root.rglob("*.png"))
    assert not root.exists()


def test_counting_upscaler_keeps_the_upscaler_s_class() -> None:
    import torch

    calls: list[int] = []
    inner = InterpolationUpscaler("bicubic")
    counting = CountingUpscaler(inner, lambda: calls.append(1), lambda: False)
    assert isinstance(counting, InterpolationUpscaler) and counting.name == "bicubic"
    assert counting.kernel == "bicubic" and counting.supports_scale(3)
    out = counting(torch.rand(1, 3, 8, 8), 2)
    assert out.shape == (1, 3, 16, 16) and calls == [1]


def test_non_loopback_host_is_refused_without_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--allow-remote" in err and "0.0.0.0" in err
    with pytest.raises(ConfigError, match="--allow-remote"):
        check_host("192.0.2.10", allow_remote=False)
    warning = check_host("192.0.2.10", allow_remote=True)
    assert warning is not None and "\n" not in warning
    for host in ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"]:
        assert is_loopback(host) and check_host(host, allow_remote=False) is None
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.10")


def test_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from srkit.serve.server import listen

    taken = listen("127.0.0.1", 0)
    try:
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    err = capsys.readouterr().err.strip()
    assert err.startswith("srkit: error: --port") and "\n" not in err


def test_missing_dependencies_say_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.strip() == (
        "srkit: error: srkit serve needs Starlette and uvicorn: pip install 'srkit[serve]'"
    )


def test_import_srkit_needs_no_web_framework() -> None:
    code = (
        "import sys, srkit, srkit.cli; srkit.cli.build_parser(); "
        "bad = [m for m in ('starlette', 'uvicorn', 'srkit.serve.app') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_weight_files_given_at_start_are_offered_by_stem(tmp_path: Path) -> None:
    import torch
    from starlette.testclient import TestClient

    from srkit.archs import build_model, save_weights
    from srkit.errors import ConfigError

    torch.manual_seed(0)
    weights = save_weights(
        tmp_path / "mine.safetensors", build_model("edsr-baseline", scale=2, num_feat=8, num_block=1)
    )
    with TestClient(create_app(ServeConfig(model_files=(weights,))), base_url=BASE) as client:
        offered = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert offered["mine"]["kind"] == "file" and offered["mine"]["scale"] == 2
        job = _wait(
            client, _upload(client, _png(np.zeros((12, 10, 3), np.uint8)), "z.png", model="mine").json()["id"]
        )
        (run,) = job["runs"]
        assert job["state"] == "done" and (run["width"], run["height"]) == (20, 24)
        want = srkit.load_model(weights, device="cpu").upscale(np.zeros((12, 10, 3), np.uint8))
        with PILImage.open(io.BytesIO(client.get(run["download_url"]).content)) as im:
            np.testing.assert_array_equal(np.asarray(im), want)
        # a path in the request is not a model
        refused = _upload(client, _png(np.zeros((8, 8, 3), np.uint8)), "z.png", model=str(weights))
        assert refused.status_code == 400 and "model" in refused.json()["error"]
    with pytest.raises(ConfigError, match="no such weight file"):
        ServeConfig(model_files=(tmp_path / "missing.safetensors",))
