"""``srkit eval --report``'s HTML in a real browser (issue 16): Debian's chromium driven by Playwright,
the file opened from disk with the network off; no console errors, the tables sort, the zoom and the
slider respond; a screenshot is saved and its path printed. Skipped, saying why, where chromium or the
playwright package is absent (``.ci/run`` installs chromium; ``playwright`` is in the dev extra)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srkit.archs import build_model, save_weights
from srkit.cli import main

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is absent (pip install -e '.[dev]')"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "chromium is absent (apt-get install -y chromium; .ci/run installs it)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    data = base / "hr"
    data.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(data / f"im{i}.png")
    torch.manual_seed(0)
    weights = save_weights(
        base / "tiny.safetensors", build_model("edsr-baseline", scale=2, num_feat=8, num_block=1)
    )
    out = base / "eval"
    argv = ["eval", "--model", "bicubic", str(weights), "--dataset", str(data), "--scale", "2"]
    assert (
        main([*argv, "--degradations", "bicubic,nearest", "--report", "--out", str(out), "--no-progress"])
        == 0
    )
    return out / "report.html"


def test_report_renders_without_console_errors_and_responds(report: Path, tmp_path: Path) -> None:
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True)  # a self-contained file needs no network
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            # a sortable table sorts on a header click
            table = page.locator("table.sortable").first
            header = table.locator("th").nth(1)
            header.click()
            assert header.get_attribute("aria-sort") in ("ascending", "descending")
            # the zoom resizes the crops, the slider moves the divider
            zoom = page.locator("input.zoom").first
            image = page.locator(".zoomview img, .panel img").first
            width = image.evaluate("img => img.getBoundingClientRect().width")
            zoom.fill("4")
            zoom.dispatch_event("input")
            assert image.evaluate("img => img.getBoundingClientRect().width") > width
            slider = page.locator("input.cmp-pos").first
            slider.fill("20")
            slider.dispatch_event("input")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert errors == []
