"""``srkit serve`` in a real browser: Debian's chromium driven by Playwright (no browser download).

The server runs as ``srkit serve --port 0`` in a subprocess; the pages upload through the page's file
input, wait for the results, download them and check them against ``srkit.load_model``. Any console
error on a page fails its test. Skipped, saying why, where chromium or the playwright package is absent
(``.ci/run`` installs chromium; ``playwright`` is in the dev extra).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

import srkit

pytest.importorskip("starlette", reason="srkit serve needs the serve extra: pip install 'srkit[serve]'")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is absent (pip install -e '.[dev]')"
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "chromium is absent (apt-get install -y chromium; .ci/run installs it)", allow_module_level=True
    )

COFFEE = Path(srkit.__file__).parent / "assets" / "coffee.png"
START_S = 60
TIMEOUT_MS = 20_000


def _read_url(proc: subprocess.Popen[str]) -> tuple[str, Path]:
    """The URL and temporary folder from ``srkit serve``'s first line (read in a thread: no hang)."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(START_S)
    match = re.search(r"(http://\S+/) \(temporary folder (.+?); ", lines[0] if lines else "")
    if match is None:
        proc.kill()
        raise AssertionError(
            f"srkit serve did not start: {lines} {proc.stderr.read() if proc.stderr else ''}"
        )
    return match.group(1), Path(match.group(2))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``srkit serve`` on a free loopback port; stopped (SIGTERM) at the end, its folder then gone."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "srkit", "serve", "--port", "0", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url, folder = _read_url(proc)
    deadline = time.monotonic() + START_S
    while True:
        try:
            with urllib.request.urlopen(url + "api/models", timeout=5) as response:
                assert response.status == 200
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert not folder.exists(), f"{folder} was left behind"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


class Page:
    """A browser page on the server, collecting console errors (asserted none at the end)."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url)

    def settings(self, models: list[str], scale: str, tile: str = "") -> None:
        """Tick exactly ``models``, pick ``scale`` and type ``tile`` (empty: automatic)."""
        for box in self.page.locator("input[name=model]").all():
            box.set_checked(box.get_attribute("value") in models)
        self.page.select_option("#scale", scale)
        self.page.fill("#tile", tile)

    def upload(self, files: Any) -> None:
        self.page.set_input_files("#files", files)

    def wait_done(self) -> Any:
        """The finished job card (waiting for it)."""
        card = self.page.locator("article.job[data-state=done]").first
        card.wait_for(timeout=TIMEOUT_MS)
        return card

    def download(self, panel: Any, folder: Path) -> Path:
        with self.page.expect_download(timeout=TIMEOUT_MS) as info:
            panel.locator("a.download").click()
        path = folder / info.value.suggested_filename
        info.value.save_as(path)
        return path

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"console errors: {self.errors}"


@pytest.fixture
def open_page(browser: Any, server: str) -> Iterator[Any]:
    pages: list[Page] = []

    def make() -> Page:
        pages.append(Page(browser, server))
        return pages[-1]

    yield make
    for page in pages:
        page.close()


def test_upload_bicubic_x2_and_download(open_page: Any, tmp_path: Path) -> None:
    page = open_page()
    page.settings(["bicubic"], "2")
    page.upload(COFFEE)
    card = page.wait_done()
    panel = card.locator("figure.panel[data-model=bicubic]")
    assert panel.get_attribute("data-state") == "done"
    assert "1200×800" in panel.locator(".status").inner_text()
    path = page.download(panel, tmp_path)
    assert path.name == "coffee_bicubic_x2.png"
    with PILImage.open(path) as im:
        assert im.size == (1200, 800) and im.mode == "RGB"
    page.page.locator("figure.panel .after").first.wait_for(state="visible")
    page.page.wait_for_function("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    shot = tmp_path / "serve.png"
    page.page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_bad_file_shows_the_one_line_error(open_page: Any) -> None:
    page = open_page()
    page.settings(["bicubic"], "2")
    page.upload({"name": "x.png", "mimeType": "image/png", "buffer": os.urandom(4096)})
    error = page.page.locator("article.job[data-state=failed] .error").first
    error.wait_for(timeout=TIMEOUT_MS)
    text = error.inner_text().strip()
    assert text.startswith("x.png: ") and "\n" not in text and "srkit-serve-" not in text


def test_two_pages_at_once_get_their_own_results(open_page: Any, tmp_path: Path) -> None:
    crop = tmp_path / "crop.png"
    coffee = np.asarray(PILImage.open(COFFEE).convert("RGB"))
    PILImage.fromarray(np.ascontiguousarray(coffee[40:220, 300:540])).save(crop)
    first, second = open_page(), open_page()
    for page in (first, second):
        page.settings(["bicubic"], "2", tile="0")
    first.upload(COFFEE)  # both uploads are out before either result is awaited
    second.upload(crop)
    model = srkit.load_model("bicubic", scale=2, tile=0)
    for page, source, folder in ((first, COFFEE, "a"), (second, crop, "b")):
        card = page.wait_done()
        (tmp_path / folder).mkdir()
        path = page.download(card.locator("figure.panel").first, tmp_path / folder)
        assert path.name == f"{source.stem}_bicubic_x2.png"
        with PILImage.open(path) as im:
            got = np.asarray(im)
        np.testing.assert_array_equal(got, model.upscale(source))


def test_models_side_by_side_share_zoom_and_split(open_page: Any) -> None:
    page = open_page()
    page.settings(["bicubic", "nearest"], "3")
    page.upload(COFFEE)
    card = page.wait_done()
    assert card.locator("figure.panel[data-state=done]").count() == 2
    views = card.locator(".view")
    box = views.first.bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    page.page.mouse.wheel(0, -400)
    card.locator(".split").nth(1).fill("250")
    stages = card.locator(".stage").evaluate_all("(s) => s.map((e) => e.style.transform)")
    assert len(set(stages)) == 1 and "scale(" in stages[0]
    clips = card.locator("img.after").evaluate_all("(s) => s.map((e) => e.style.clipPath)")
    assert len(set(clips)) == 1
    assert card.locator(".split").first.input_value() == "250"
    assert card.locator(".zoom-level").inner_text() != "100%"
