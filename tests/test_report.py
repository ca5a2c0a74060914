"""`srkit report` and `srkit eval --report`: one self-contained HTML file whose numbers are eval.json's,
with charts, zoomed crops, a slider and the run's settings; bad inputs are one-line errors."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srkit.archs import build_model, save_weights
from srkit.cli import main
from srkit.degrade import mod_crop

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Every descendant with ``tag`` whose attributes include ``attrs`` (``class_`` matches one
        class; ``data_x`` is ``data-x``)."""
        out = []
        for child in self.children:
            if _matches(child, tag, attrs):
                out.append(child)
            out += child.all(tag, **attrs)
        return out

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def content(self) -> str:
        return self.text + "".join(c.content() for c in self.children)


def _matches(node: Node, tag: str | None, attrs: dict[str, str]) -> bool:
    if tag is not None and node.tag != tag:
        return False
    for key, want in attrs.items():
        if key == "class_":
            if want not in node.attrs.get("class", "").split():
                return False
        elif node.attrs.get(key.replace("_", "-")) != want:
            return False
    return True


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse(path: Path) -> Node:
    builder = _Builder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def png(src: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :]))))


def exact(node: Node) -> float | None:
    text = node.attrs["data-value"]
    return None if text == "" else float(text)


# -- fixtures ---------------------------------------------------------------------------------------------


def _images(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 48), (36, 36), (44, 30)]):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([128 + 100 * np.sin(x / 3 + i), 128 + 100 * np.cos(y / 4), (x * y) % 255], -1)
        img = np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


@dataclass(frozen=True)
class Evaluated:
    dataset: Path
    root: Path
    report: Path
    folders: dict[str, Path]
    """model label -> its eval folder."""


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Evaluated:
    """`srkit eval --model bicubic tiny.safetensors ... --report` on three generated images."""
    base = tmp_path_factory.mktemp("report")
    dataset = _images(base / "images")
    torch.manual_seed(0)
    model = build_model("edsr-baseline", scale=2, num_feat=8, num_block=1)
    weights = save_weights(base / "tiny.safetensors", model)
    root = base / "eval"
    argv = ["eval", "--model", "bicubic", str(weights), "--dataset", str(dataset), "--scale", "2"]
    argv += ["--degradations", "bicubic,nearest", "--report", "--out", str(root), "--no-progress"]
    assert main(argv) == 0
    return Evaluated(
        dataset, root, root / "report.html", {"bicubic": root / "bicubic", "tiny": root / "tiny"}
    )


def _eval_json(folder: Path) -> dict:
    return json.loads((folder / "eval.json").read_text())


# -- numbers ----------------------------------------------------------------------------------------------


def check_comparison(doc: Node, label: str, data: dict) -> None:
    """Every group and summary number of ``data`` (one eval.json) is in the comparison table, exact in
    data-value and formatted (2 decimals PSNR, 4 SSIM)."""
    tables = doc.one("section", id="comparison").all("table", class_="comparison")
    assert tables
    for g in data["groups"]:
        for metric, decimals in (("psnr", 2), ("ssim", 4)):
            cell = doc.one(
                "td",
                data_model=label,
                data_dataset=g["dataset"],
                data_scale=str(g["scale"]),
                data_group=g["degradation"],
                data_metric=metric,
            )
            assert exact(cell) == g[metric]
            assert cell.content() == f"{g[metric]:.{decimals}f}"
    for s in data["summary"]:
        for kind in ("worst", "mean"):
            for metric, decimals in (("psnr", 2), ("ssim", 4)):
                cell = doc.one(
                    "td",
                    data_model=label,
                    data_dataset=s["dataset"],
                    data_scale=str(s["scale"]),
                    data_group=kind,
                    data_metric=metric,
                )
                assert exact(cell) == s[f"{kind}_{metric}"]
                assert cell.content() == f"{s[f'{kind}_{metric}']:.{decimals}f}"
    rows = [tr for t in tables for tr in t.all("tr") if tr.all("td", data_model=label)]
    assert {tr.one("td", data_metric="worst_group").content() for tr in rows} == {
        s["worst_group"] for s in data["summary"]
    }


def check_images(doc: Node, label: str, data: dict, bicubic: dict | None) -> None:
    """Every per-image number of ``data`` is in the per-image table; bicubic's equal ``bicubic``'s rows
    (when given) and the gain is the difference."""
    table = doc.one("table", id="image-table")
    reference = {
        (r["dataset"], r["degradation"], r["scale"], r["image"]): r for r in (bicubic or {}).get("images", [])
    }
    assert len(table.one("tbody").all("tr")) >= len(data["images"])
    for r in data["images"]:
        row = table.one(
            "tr",
            data_dataset=r["dataset"],
            data_group=r["degradation"],
            data_scale=str(r["scale"]),
            data_image=r["image"],
        )
        for metric in ("psnr", "ssim"):
            assert exact(row.one("td", data_model=label, data_metric=metric)) == r[metric]
        bic_psnr = exact(row.one("td", data_model="bicubic", data_metric="psnr"))
        bic_ssim = exact(row.one("td", data_model="bicubic", data_metric="ssim"))
        if reference:
            ref = reference[(r["dataset"], r["degradation"], r["scale"], r["image"])]
            assert (bic_psnr, bic_ssim) == (ref["psnr"], ref["ssim"])
        gain = row.one("td", data_model=label, data_metric="gain")
        assert bic_psnr is not None
        assert exact(gain) == r["psnr"] - bic_psnr
        assert gain.content() == f"{r['psnr'] - bic_psnr:+.2f}"


def test_eval_report_numbers_equal_eval_json(evaluated: Evaluated) -> None:
    doc = parse(evaluated.report)
    bicubic = _eval_json(evaluated.folders["bicubic"])
    tiny = _eval_json(evaluated.folders["tiny"])
    check_comparison(doc, "bicubic", bicubic)
    check_comparison(doc, "tiny", tiny)
    check_images(doc, "tiny", tiny, bicubic)
    # the best of each column is bold (bicubic beats a random network everywhere)
    best = doc.one("td", data_model="bicubic", data_group="bicubic", data_metric="psnr")
    assert "best" in best.attrs["class"].split() and best.all("b")


def test_report_has_charts_crops_slider_and_settings(evaluated: Evaluated) -> None:
    doc = parse(evaluated.report)
    assert len(doc.all("table", class_="sortable")) >= 2
    assert all(th.content() for t in doc.all("table", class_="sortable") for th in t.all("th"))
    charts = doc.one("section", id="charts").all("img", class_="chart")
    assert len(charts) == 1 and charts[0].attrs["data-dataset"] == "images"
    assert png(charts[0].attrs["src"]).shape[1] > 300  # a matplotlib figure, embedded
    views = doc.one("section", id="crops").all("div", class_="view")
    assert len(views) == 6  # 3 images x 2 groups: the 3 largest gains, then the 3 smallest
    assert [v.attrs["data-kind"] for v in views] == ["largest"] * 3 + ["smallest"] * 3
    gains = [float(v.attrs["data-gain"]) for v in views]
    assert gains[:3] == sorted(gains[:3], reverse=True) and min(gains[:3]) >= max(gains[3:])
    for view in views:
        panels = [f.attrs["data-panel"] for f in view.all("figure", class_="panel")]
        assert panels == ["LR", "bicubic", "tiny", "HR"]
        crops = [png(img.attrs["src"]) for img in view.all("img", class_="crop")]
        assert len({c.shape for c in crops}) == 1
        slider = view.one("div", class_="slider")
        assert [o.content() for o in slider.one("select", class_="cmp-a").all("option")] == panels
        assert len(slider.all("select", class_="cmp-b")) == 1 and slider.one("input", class_="cmp-pos")
        assert slider.one("img", class_="over") and slider.one("img", class_="under")
        assert view.one("input", class_="zoom")
    settings = doc.one("section", id="settings")
    tiny = _eval_json(evaluated.folders["tiny"])["settings"]
    block = settings.one("details", data_model="tiny")
    assert block.one("td", data_key="environment.srkit").content() == tiny["environment"]["srkit"]
    assert block.one("td", data_key="model.precision").content() == tiny["model"]["precision"]
    assert block.one("td", data_key="model.sha256").content() == tiny["model"]["sha256"]
    assert block.one("td", data_key="channel").content() == "y"
    assert block.one("td", data_key="crop_border").content() == "scale"
    assert "hparams" in block.one("td", data_key="model.metadata").content()


def test_report_is_self_contained(evaluated: Evaluated) -> None:
    doc = parse(evaluated.report)
    assert not doc.all("link")
    for node in doc.all():
        for name in ("src", "href"):
            if name in node.attrs:
                assert node.attrs[name].startswith("data:"), (node.tag, node.attrs[name][:60])
    scripts = doc.all("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attrs and "sortTable" in scripts[0].content()
    text = evaluated.report.read_text()
    assert "http://" not in text and "https://" not in text


def test_crops_are_the_pixels_of_the_window(evaluated: Evaluated) -> None:
    """The HR crop is the HR image's window; the model's crop is its saved SR image's window."""
    doc = parse(evaluated.report)
    for view in doc.one("section", id="crops").all("div", class_="view"):
        top, left, h, w = (int(v) for v in view.attrs["data-window"].split(","))
        assert top % 2 == 0 and left % 2 == 0 and h % 2 == 0 and w % 2 == 0
        image = view.attrs["data-image"]
        hr = mod_crop(np.asarray(Image.open(evaluated.dataset / image).convert("RGB")), 2)
        crops = {f.attrs["data-panel"]: png(f.one("img").attrs["src"]) for f in view.all("figure")}
        np.testing.assert_array_equal(crops["HR"], hr[top : top + h, left : left + w])
        saved = evaluated.folders["tiny"] / "images" / "images" / view.attrs["data-group"] / "x2" / image
        sr = np.asarray(Image.open(saved).convert("RGB"))
        np.testing.assert_array_equal(crops["tiny"], sr[top : top + h, left : left + w])
        assert crops["LR"].shape == crops["HR"].shape
        np.testing.assert_array_equal(crops["LR"][::2, ::2], crops["LR"][1::2, 1::2])  # nearest-enlarged


def test_report_cli_from_folders(evaluated: Evaluated, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.html"
    folders = [str(evaluated.folders["bicubic"]), str(evaluated.folders["tiny"])]
    assert main(["report", *folders, "-o", str(out), "--crops", "1"]) == 0
    assert str(out) in capsys.readouterr().out
    doc = parse(out)
    check_comparison(doc, "tiny", _eval_json(evaluated.folders["tiny"]))
    assert len(doc.all("div", class_="view")) == 2
    # the --out folder of several models stands for its model folders, in comparison.csv order
    again = tmp_path / "again.html"
    assert main(["report", str(evaluated.root), "-o", str(again), "--crops", "0"]) == 0
    doc = parse(again)
    assert [d.attrs["data-model"] for d in doc.all("details")] == ["bicubic", "tiny"]
    assert not doc.all("div", class_="view")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_bicubic_is_measured_when_no_bicubic_folder_is_given(evaluated: Evaluated, tmp_path: Path) -> None:
    """Without a bicubic evaluation, bicubic's per-image PSNR/SSIM are measured under eval.json's
    convention: exactly what `srkit eval --model bicubic` measured."""
    out = tmp_path / "tiny.html"
    assert main(["report", str(evaluated.folders["tiny"]), "-o", str(out)]) == 0
    doc = parse(out)
    assert "measured here" in doc.one("section", id="images").content()
    check_images(doc, "tiny", _eval_json(evaluated.folders["tiny"]), _eval_json(evaluated.folders["bicubic"]))
    panels = [f.attrs["data-panel"] for f in doc.all("div", class_="view")[0].all("figure")]
    assert panels == ["LR", "bicubic", "tiny", "HR"]


def test_default_output_is_beside_a_single_folder(evaluated: Evaluated, tmp_path: Path) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(evaluated.folders["tiny"], copy)
    (copy / "report.html").unlink(missing_ok=True)
    assert main(["report", str(copy), "--crops", "0"]) == 0
    assert (copy / "report.html").is_file()


# -- errors -----------------------------------------------------------------------------------------------


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("srkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_folder_without_eval_json(tmp_path: Path, capsys) -> None:
    err = _one_line_error(["report", str(tmp_path), "-o", str(tmp_path / "r.html")], capsys)
    assert str(tmp_path) in err and "eval.json" in err


def test_missing_folder(tmp_path: Path, capsys) -> None:
    err = _one_line_error(["report", str(tmp_path / "nope")], capsys)
    assert "nope" in err and "no such folder" in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an srkit eval.json"),
        ('{"model": "m", "summary": [], "images": []}', "'groups'"),
        ('{"model": "m", "groups": [{"dataset": "d"}], "summary": [], "images": []}', "groups[0] has no"),
    ],
)
def test_corrupt_eval_json(tmp_path: Path, capsys, text: str, needle: str) -> None:
    (tmp_path / "eval.json").write_text(text)
    err = _one_line_error(["report", str(tmp_path)], capsys)
    assert str(tmp_path / "eval.json") in err and needle in err
    assert not (tmp_path / "report.html").exists()


def test_missing_saved_images(evaluated: Evaluated, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(evaluated.folders["tiny"], copy)
    shutil.rmtree(copy / "images")
    err = _one_line_error(["report", str(copy), "-o", str(tmp_path / "r.html")], capsys)
    assert str(copy / "images") in err and "missing" in err and "--save-images" in err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(copy), "-o", str(tmp_path / "r.html"), "--crops", "0"]) == 0  # needs no images


def test_changed_hr_image(evaluated: Evaluated, tmp_path: Path, capsys) -> None:
    data = _eval_json(evaluated.folders["tiny"])
    for record in data["settings"]["datasets"]:
        record["files"][0]["sha256"] = "0" * 64
    copy = tmp_path / "tiny"
    shutil.copytree(evaluated.folders["tiny"], copy)
    (copy / "eval.json").write_text(json.dumps(data))
    err = _one_line_error(["report", str(copy), "-o", str(tmp_path / "r.html")], capsys)
    assert "img0.png" in err and "sha256" in err


def test_several_folders_need_an_output(evaluated: Evaluated, capsys) -> None:
    folders = [str(p) for p in evaluated.folders.values()]
    err = _one_line_error(["report", *folders], capsys)
    assert "--out" in err


def test_bad_crops(evaluated: Evaluated, capsys) -> None:
    err = _one_line_error(["report", str(evaluated.folders["tiny"]), "--crops", "-1"], capsys)
    assert "--crops" in err


def test_import_srkit_stays_light() -> None:
    """Neither `import srkit` nor building the CLI parser (with report and plot) imports matplotlib."""
    code = (
        "import sys, srkit, srkit.report, srkit.cli; srkit.cli.build_parser(); "
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cli_defaults_match_the_library() -> None:
    from srkit.cli import report as cli_report
    from srkit.report import page

    assert (cli_report.DEFAULT_CROPS, cli_report.DEFAULT_CROP_SIZE) == (
        page.DEFAULT_CROPS,
        page.DEFAULT_CROP_SIZE,
    )


# -- the acceptance command of the issue ------------------------------------------------------------------


@pytest.mark.slow
def test_acceptance_named_models_on_set5(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    models = ["bicubic", "edsr-baseline-x2", "edsr-baseline-x2-robust"]
    argv = ["eval", "--model", *models, "--dataset", str(shared_data / "Set5"), "--scale", "2"]
    argv += [
        "--degradations",
        "bicubic,nearest",
        "--report",
        "--out",
        str(out),
        "--no-progress",
        "--no-download",
    ]
    assert main(argv) == 0
    doc = parse(out / "report.html")
    bicubic = _eval_json(out / "bicubic")
    for model in models:
        data = _eval_json(out / model)
        check_comparison(doc, model, data)
        if model != "bicubic":
            check_images(doc, model, data, bicubic)
    views = doc.all("div", class_="view")
    assert len(views) == 6
    for view in views:
        assert [f.attrs["data-panel"] for f in view.all("figure")] == ["LR", "bicubic", *models[1:], "HR"]
    assert len(doc.one("section", id="charts").all("img", class_="chart")) == 1
    block = doc.one("details", data_model="edsr-baseline-x2")
    assert block.one("td", data_key="model.kind").content() == "named"
    assert not any(math.isnan(float(td.attrs["data-value"])) for td in doc.all("td", data_metric="gain"))
