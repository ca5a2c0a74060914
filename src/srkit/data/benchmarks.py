"""Named super-resolution benchmark datasets (HR images) and where to get them.

``resolve_dataset`` turns what a user typed into an :class:`HRDataset`: a folder of images, a single
image file, ``'sample'`` (the bundled photograph) or a benchmark name from :data:`BENCHMARKS` (any case;
aliases such as ``B100``/``bsd100`` or ``div2k_val`` are accepted).

Downloaded benchmarks live under ``<cache>/datasets/<name>/`` (``<cache>`` is
:func:`srkit.settings.cache_dir`, i.e. ``$SRKIT_CACHE`` or ``~/.cache/srkit``). Archives are kept in
``<cache>/datasets/_downloads/`` so benchmarks that share one archive (Set5, Set14, B100 and Urban100 all
come from EDSR's ``benchmark.tar``) download it once; delete that folder to reclaim the space once the
benchmarks you need are extracted. A finished extraction is marked by ``<name>/.complete``; a folder
without it (an interrupted extraction) is wiped and extracted again, and the extracted HR images are
checked against :attr:`BenchmarkSpec.files` before the marker is written. Concurrent first downloads of
the same benchmark from several processes are not coordinated.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from srkit.data.download import download_file, extract_archive, sha256_file
from srkit.errors import DatasetError, one_line
from srkit.io.images import IMAGE_SUFFIXES
from srkit.settings import cache_dir, sample_image_path

__all__ = [
    "BENCHMARKS",
    "IMAGE_SUFFIXES",
    "BenchmarkSpec",
    "HRDataset",
    "benchmark_names",
    "find_benchmark",
    "list_images",
    "resolve_dataset",
]

COMPLETE_MARKER = ".complete"
DOWNLOADS_DIRNAME = "_downloads"


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark's HR images come from and what they are.

    Attributes:
        name: canonical lower-case name (the key in :data:`BENCHMARKS` and the cache folder name).
        url: download address of the archive; for ``manual`` benchmarks the page where access is requested.
        sha256: SHA-256 of the archive, or None where no trustworthy value is known (``note`` says so).
        hr_subdir: ``/``-separated path of the HR images inside the extracted archive (for ``manual``
            benchmarks: inside the benchmark's cache folder, where the user places the images).
        files: expected HR image paths relative to ``hr_subdir`` (``/``-separated, sorted).
        citation: what to cite when reporting results on this benchmark.
        note: licence / terms of use and provenance remarks.
        size: archive size in bytes where known (checked after download).
        members: only archive members under this ``/``-separated prefix are extracted ("" = all).
        manual: the archive cannot be fetched automatically (e.g. access by request); the user places
            the images under ``<cache>/datasets/<name>/<hr_subdir>`` and files are matched by stem.
        aliases: other accepted names (compared case-insensitively, ``_``/space treated as ``-``).
    """

    name: str
    url: str
    sha256: str | None
    hr_subdir: str
    files: tuple[str, ...]
    citation: str
    note: str = ""
    size: int | None = None
    members: str = ""
    manual: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def archive_name(self) -> str:
        """File name of the downloaded archive (the last component of ``url``)."""
        return PurePosixPath(self.url.split("?", 1)[0].split("#", 1)[0]).name


@dataclass(frozen=True)
class HRDataset:
    """A resolved set of high-resolution images.

    Attributes:
        name: benchmark name, folder name, image stem or ``'sample'``.
        root: the folder holding the images.
        files: the image paths, sorted.
    """

    name: str
    root: Path
    files: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.files)


# --------------------------------------------------------------------------------------------------
# Expected file lists
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """The whitespace-separated words of ``text``."""
    return text.split()


# B100 = the 100 test images of BSDS300 (= the 'val' split of BSDS500), as listed in BSDS300's
# iids_test.txt; disjoint from the BSDS500 train and test ids below.
_B100_IDS = _words(
    """
3096 8023 12084 14037 16077 19021 21077 24077 33039 37073 38082 38092 41033 41069 42012 42049 43074
45096 54082 55073 58060 62096 65033 66053 69015 69020 69040 76053 78004 85048 86000 86016 86068
87046 89072 97033 101085 101087 102061 103070 105025 106024 108005 108070 108082 109053 119082
123074 126007 130026 134035 143090 145086 147091 148026 148089 156065 157055 159008 160068 163085
167062 167083 170057 175032 175043 182053 189080 196073 197017 208001 210088 216081 219090 220075
223061 227092 229036 236037 241004 241048 253027 253055 260058 271035 285079 291000 295087 296007
296059 299086 300091 302008 304034 304074 306005 351093 361010 376043 385039
"""
)

# BSDS500 (BSR release) data/images/train and data/images/test: 200 JPEG ids each.
_BSDS500_TRAIN_IDS = _words(
    """
2092 8049 8143 12003 12074 15004 15088 16052 20008 22013 22090 22093 23025 23080 23084 24004 24063
25098 26031 27059 28075 28096 33066 35008 35010 35058 35070 35091 41004 41025 42044 42078 43070
43083 45077 46076 48055 54005 55067 55075 56028 59078 60079 61060 61086 65010 65019 65074 65132
66039 66075 67079 68077 71046 76002 78019 80099 87065 90076 92059 94079 95006 97017 100075 100080
100098 103041 104022 105019 105053 106020 106025 108041 108073 109034 112082 113009 113016 113044
117054 118020 118035 122048 124084 126039 130034 134008 134052 135037 135069 138032 138078 140055
140075 144067 145014 145053 147021 147062 151087 153077 153093 155060 156079 157036 159029 159045
159091 161062 163014 163062 164074 166081 169012 170054 172032 173036 176019 176035 176039 178054
181018 181079 181091 183055 183087 187003 187029 187039 187071 187083 188005 188063 188091 189003
189011 196015 198004 198023 198054 202012 207056 209070 216041 216053 216066 225017 227040 227046
231015 232038 236017 238011 239007 239096 242078 245051 246016 246053 247085 249061 249087 253036
254033 254054 260081 268002 271008 271031 274007 277095 285036 286092 292066 293029 299091 301007
302003 309004 310007 311068 311081 314016 317080 323016 326038 353013 361084 365025 365073 368016
368078 370036 372047 374020 374067 376001 376020 385028 388016
"""
)

_BSDS500_TEST_IDS = _words(
    """
2018 3063 5096 6046 8068 10081 14085 14092 15011 15062 16004 16068 17067 20069 23050 28083 29030
33044 35028 35049 36046 41006 41029 41085 41096 43033 43051 45000 48017 48025 49024 51084 61034
64061 65084 69000 69007 69022 70011 70090 71076 71099 77062 78098 79073 80085 80090 81066 81090
81095 87015 92014 94095 97010 100007 100039 100099 101027 101084 102062 103006 103029 103078 104010
104055 105027 106005 106047 107014 107045 107072 108004 108036 108069 109055 112056 112090 117025
118015 118031 118072 120003 120093 123057 128035 130014 130066 134049 134067 140006 140088 141012
141048 145059 145079 146074 147077 147080 156054 157032 157087 159002 159022 160006 160067 161045
163004 163096 164046 168084 175083 176051 179084 181021 183066 185092 187058 187099 188025 189006
189013 189029 189096 196027 196040 196062 196088 198087 201080 202000 206062 206097 207038 207049
208078 209021 217013 217090 220003 223004 223060 225022 226022 226033 226043 226060 228076 230063
230098 232076 235098 238025 243095 246009 247003 247012 249021 250047 250087 253016 253092 257098
258089 259060 267036 268048 268074 277053 279005 281017 285022 288024 289011 290035 296028 296058
302022 306051 306052 309040 317043 326025 326085 334025 335088 335094 344010 346016 347031 365072
368037 372019 376086 384022 384089 385022 388006 388018 388067 393035
"""
)

# The 109 Manga109 volume folder names (identical in manga109/public-annotations Manga109Dialog/*.xml
# and the project website's explore.json); the SR benchmark names one HR image per volume after them.
_MANGA109_TITLES = _words(
    """
ARMS AisazuNihaIrarenai AkkeraKanjinchou Akuhamu AosugiruHaru AppareKappore Arisa BEMADER_P
BakuretsuKungFuGirl Belmondo BokuHaSitatakaKun BurariTessenTorimonocho ByebyeC-BOY
Count3DeKimeteAgeru DollGun Donburakokko DualJustice EienNoWith EvaLady EverydayOsakanaChan
GOOD_KISS_Ver2 GakuenNoise GarakutayaManta GinNoChimera Hamlet HanzaiKousyouninMinegishiEitarou
HaruichibanNoFukukoro HarukaRefrain HealingPlanet HeiseiJimen HighschoolKimengumi_vol01
HighschoolKimengumi_vol20 HinagikuKenzan HisokaReturns JangiriPonpon JijiBabaFight Joouari Jyovolley
KarappoHighschool KimiHaBokuNoTaiyouDa KoukouNoHitotachi KuroidoGanka KyokugenCyclone
LancelotFullThrottle LoveHina_vol01 LoveHina_vol14 MAD_STONE MadouTaiga MagicStarGakuin MagicianLoad
MariaSamaNihaNaisyo MayaNoAkaiKutsu MemorySeijin MeteoSanStrikeDesu MiraiSan MisutenaideDaisy
MoeruOnisan_vol01 MoeruOnisan_vol19 MomoyamaHaikagura MukoukizuNoChonbo MutekiBoukenSyakuma Nekodama
NichijouSoup Ningyoushi OL_Lunch OhWareraRettouSeitokai PLANET7 ParaisoRoad PikaruGenkiDesu
PlatinumJungle PrayerHaNemurenai PrismHeart PsychoStaff Raphael ReveryEarth RinToSiteSippuNoNaka
RisingGirl Saisoku SaladDays_vol01 SaladDays_vol18 SamayoeruSyonenNiJunaiWo SeisinkiVulnus
ShimatteIkouze_vol01 ShimatteIkouze_vol26 SonokiDeABC SyabondamaKieta TaiyouNiSmash
TapkunNoTanteisitsu TasogareTsushin TennenSenshiG TensiNoHaneToAkumaNoShippo TetsuSan That'sIzumiko
TotteokiNoABC ToutaMairimasu TouyouKidan TsubasaNoKioku UchiNoNyan'sDiary UchuKigekiM774 UltraEleven
UnbalanceTokyo WarewareHaOniDearu YamatoNoHane YasasiiAkuma YouchienBoueigumi YoumaKourin
YukiNoFuruMachi YumeNoKayoiji YumeiroCooking
"""
)

_SET5 = ("baby", "bird", "butterfly", "head", "woman")
_SET14 = (
    "baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers",
    "foreman", "lenna", "man", "monarch", "pepper", "ppt3", "zebra",
)  # fmt: skip


def _pngs(stems: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(sorted(f"{stem}.png" for stem in stems))


# --------------------------------------------------------------------------------------------------
# Sources. Checksums were not computed here (no network); each records where it was found.
# --------------------------------------------------------------------------------------------------

# EDSR authors' benchmark archive (Lim et al., CVPRW 2017): benchmark/{Set5,Set14,B100,Urban100}/
# {HR, LR_bicubic/X2,X3,X4}, HR as PNG. SHA-256 and size (250,112,000 bytes) as pinned and checked by the
# public project YeapJieShen/single-image-super-resolution (tests/utils/test_imresize.py and
# tests/reference/fetch_urban100.py), which verifies downloads of this URL against it.
_EDSR_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
_EDSR_SHA256 = "80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8"
_EDSR_SIZE = 250_112_000
_EDSR_NOTE = (
    "Downloaded from the EDSR authors' benchmark.tar (about 250 MB, shared by set5/set14/b100/urban100; "
    "HR plus MATLAB-bicubic LR x2/x3/x4). The images keep their original owners' terms: research use only, "
    "no redistribution."
)

# DIV2K validation HR (NTIRE 2017). SHA-256 and size (448,993,893 bytes) from TensorFlow Datasets'
# registered checksums, tensorflow/datasets: tensorflow_datasets/url_checksums/div2k.txt; the same
# digest is pinned independently by other public projects.
_DIV2K_VAL_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip"
_DIV2K_VAL_SHA256 = "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"
_DIV2K_VAL_SIZE = 448_993_893

# BSDS500 (Berkeley BSR release). Size 70,763,455 bytes is tensorpack's DATA_SIZE for this URL
# (tensorpack/dataflow/dataset/bsds500.py); the SHA-256 is pinned identically, with that size, by several
# unrelated public projects found by code search (byte-pinned dataset fetch scripts and READMEs).
_BSDS500_URL = "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
_BSDS500_SHA256 = "97e49d31764f3912f0c4122707d53062ac9e783ba0f095e447a4d53c1a41af8e"
_BSDS500_SIZE = 70_763_455

_MANGA109_URL = "http://www.manga109.org/en/index.html#download"

BENCHMARKS: dict[str, BenchmarkSpec] = {
    "set5": BenchmarkSpec(
        name="set5",
        url=_EDSR_URL,
        sha256=_EDSR_SHA256,
        size=_EDSR_SIZE,
        members="benchmark/Set5/",
        hr_subdir="benchmark/Set5/HR",
        files=_pngs(_SET5),
        citation=(
            "M. Bevilacqua, A. Roumy, C. Guillemot, M.-L. Alberi Morel, 'Low-Complexity Single-Image "
            "Super-Resolution based on Nonnegative Neighbor Embedding', BMVC 2012."
        ),
        note=_EDSR_NOTE,
    ),
    "set14": BenchmarkSpec(
        name="set14",
        url=_EDSR_URL,
        sha256=_EDSR_SHA256,
        size=_EDSR_SIZE,
        members="benchmark/Set14/",
        hr_subdir="benchmark/Set14/HR",
        files=_pngs(_SET14),
        citation=(
            "R. Zeyde, M. Elad, M. Protter, 'On Single Image Scale-Up Using Sparse-Representations', "
            "Curves and Surfaces 2010, LNCS 6920."
        ),
        note=_EDSR_NOTE + " This is the full 14-image Set14 (bridge is grayscale).",
    ),
    "b100": BenchmarkSpec(
        name="b100",
        url=_EDSR_URL,
        sha256=_EDSR_SHA256,
        size=_EDSR_SIZE,
        members="benchmark/B100/",
        hr_subdir="benchmark/B100/HR",
        files=_pngs(_B100_IDS),
        citation=(
            "D. Martin, C. Fowlkes, D. Tal, J. Malik, 'A Database of Human Segmented Natural Images and "
            "its Application to Evaluating Segmentation Algorithms and Measuring Ecological Statistics', "
            "ICCV 2001."
        ),
        note=_EDSR_NOTE + " The 100 BSDS300 test images (BSDS500 'val'); never train on them.",
        aliases=("bsd100", "bsds100", "bsd-100", "b-100"),
    ),
    "urban100": BenchmarkSpec(
        name="urban100",
        url=_EDSR_URL,
        sha256=_EDSR_SHA256,
        size=_EDSR_SIZE,
        members="benchmark/Urban100/",
        hr_subdir="benchmark/Urban100/HR",
        files=_pngs([f"img{i:03d}" for i in range(1, 101)]),
        citation=(
            "J.-B. Huang, A. Singh, N. Ahuja, 'Single Image Super-Resolution from Transformed "
            "Self-Exemplars', CVPR 2015."
        ),
        note=_EDSR_NOTE + " EDSR names the images img001..img100 (the original release: img_001..img_100).",
        aliases=("urban-100",),
    ),
    "manga109": BenchmarkSpec(
        name="manga109",
        url=_MANGA109_URL,
        sha256=None,
        hr_subdir="HR",
        files=_pngs(_MANGA109_TITLES),
        citation=(
            "Y. Matsui, K. Ito, Y. Aramaki, A. Fujimoto, T. Ogawa, T. Yamasaki, K. Aizawa, 'Sketch-based "
            "Manga Retrieval using Manga109 Dataset', Multimedia Tools and Applications 76(20), 2017; "
            'K. Aizawa et al., \'Building a Manga Dataset "Manga109" with Annotations for Multimedia '
            "Applications', IEEE MultiMedia 27(2), 2020."
        ),
        note=(
            "Academic, non-commercial use only; access is granted on request by the University of "
            "Tokyo (Aizawa-Yamasaki-Matsui Lab), so there is no download URL and no checksum. The SR "
            "benchmark uses one HR image per volume, named after the volume's folder (e.g. "
            "AisazuNihaIrarenai.png); place the 109 images yourself (any image suffix)."
        ),
        manual=True,
        aliases=("manga-109",),
    ),
    "div2k-val": BenchmarkSpec(
        name="div2k-val",
        url=_DIV2K_VAL_URL,
        sha256=_DIV2K_VAL_SHA256,
        size=_DIV2K_VAL_SIZE,
        hr_subdir="DIV2K_valid_HR",
        files=_pngs([f"{i:04d}" for i in range(801, 901)]),
        citation=(
            "E. Agustsson, R. Timofte, 'NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and "
            "Study', CVPR Workshops 2017."
        ),
        note=(
            "DIV2K validation HR images 0801-0900 (about 450 MB), released by ETH Zurich CVL for academic "
            "research; see https://data.vision.ee.ethz.ch/cvl/DIV2K/ for the terms."
        ),
        aliases=("div2k-valid", "div2k-validation", "div2k-val-hr", "div2kval"),
    ),
    "bsds500": BenchmarkSpec(
        name="bsds500",
        url=_BSDS500_URL,
        sha256=_BSDS500_SHA256,
        size=_BSDS500_SIZE,
        hr_subdir="BSR/BSDS500/data/images",
        files=tuple(
            sorted(
                [f"train/{i}.jpg" for i in _BSDS500_TRAIN_IDS] + [f"test/{i}.jpg" for i in _BSDS500_TEST_IDS]
            )
        ),
        citation=(
            "P. Arbelaez, M. Maire, C. Fowlkes, J. Malik, 'Contour Detection and Hierarchical Image "
            "Segmentation', IEEE TPAMI 33(5), 2011."
        ),
        note=(
            "Training images: the 200 'train' + 200 'test' JPEGs (481x321 or 321x481) of the BSR release "
            "(about 70 MB). The 100 'val' images are B100 and deliberately left out. Berkeley segmentation "
            "data, research use."
        ),
        aliases=("bsd500", "bsds-500", "bsr-bsds500"),
    ),
}


# --------------------------------------------------------------------------------------------------
# Lookup helpers
# --------------------------------------------------------------------------------------------------


def _key(name: str) -> str:
    """Normalised lookup key: lower case, ``_`` and whitespace become ``-``."""
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def benchmark_names() -> list[str]:
    """Canonical benchmark names, in registry order."""
    return list(BENCHMARKS)


def find_benchmark(name: str) -> BenchmarkSpec | None:
    """The spec for a benchmark name or alias (case-insensitive), or None."""
    key = _key(name)
    for spec in BENCHMARKS.values():
        if key == _key(spec.name) or key in {_key(a) for a in spec.aliases}:
            return spec
    return None


# --------------------------------------------------------------------------------------------------
# Folders and files
# --------------------------------------------------------------------------------------------------


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """The image files in ``folder``, sorted.

    Only names ending in one of :data:`IMAGE_SUFFIXES` (any case) count; hidden files (``.name``, e.g.
    macOS ``._x.png`` resource forks) are ignored. With ``recursive`` sub-folders are searched too.

    Raises:
        DatasetError: ``folder`` does not exist, is not a folder, or holds no images.
    """
    folder = Path(folder).expanduser()
    try:
        folder.stat()
    except FileNotFoundError:
        raise DatasetError(f"{folder}: no such folder") from None
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot open: {one_line(exc)}") from None
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    images = sorted(p for p in _scan(folder, recursive) if _is_image(p))
    if not images:
        where = " (searched recursively)" if recursive else ""
        raise DatasetError(
            f"{folder}: no images{where}; expected files ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    return images


def _scan(folder: Path, recursive: bool) -> list[Path]:
    """Regular files in ``folder`` (and its sub-folders when ``recursive``); an unreadable folder is a
    one-line :class:`DatasetError` naming it (never skipped silently)."""
    try:
        with os.scandir(folder) as entries:
            listed = list(entries)
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder: {one_line(exc)}") from None
    files: list[Path] = []
    for entry in listed:
        try:
            if entry.is_file():
                files.append(Path(entry.path))
            elif recursive and entry.is_dir(follow_symlinks=False):
                files += _scan(Path(entry.path), recursive)
        except OSError as exc:
            raise DatasetError(f"{entry.path}: cannot read: {one_line(exc)}") from None
    return files


def _single_image(path: Path, name: str | None = None) -> HRDataset:
    if not _is_image(path):
        raise DatasetError(f"{path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})")
    path = path.resolve()
    return HRDataset(name=name or path.stem, root=path.parent, files=(path,))


def _datasets_root(cache: Path | None) -> Path:
    return Path(cache).expanduser() / "datasets" if cache is not None else cache_dir() / "datasets"


def _expected_paths(spec: BenchmarkSpec, hr_dir: Path) -> tuple[list[Path], list[str]]:
    """(found paths, missing names) of ``spec.files`` under ``hr_dir``.

    Regular benchmarks are matched by exact relative path; ``manual`` ones by stem (any image suffix).
    """
    found: list[Path] = []
    missing: list[str] = []
    if spec.manual:
        present: dict[str, Path] = {}
        if hr_dir.is_dir():
            for p in sorted(hr_dir.iterdir()):
                if p.is_file() and _is_image(p):
                    present.setdefault(p.stem, p)
        for rel in spec.files:
            stem = PurePosixPath(rel).stem
            if stem in present:
                found.append(present[stem])
            else:
                missing.append(rel)
    else:
        for rel in spec.files:
            path = hr_dir.joinpath(*PurePosixPath(rel).parts)
            if path.is_file():
                found.append(path)
            else:
                missing.append(rel)
    return sorted(found), missing


def _missing_summary(missing: list[str], total: int) -> str:
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    return f"{len(missing)} of {total} expected images missing ({shown})"


def _manual_dataset(spec: BenchmarkSpec, ds_dir: Path) -> HRDataset:
    hr_dir = ds_dir.joinpath(*PurePosixPath(spec.hr_subdir).parts)
    found, missing = _expected_paths(spec, hr_dir)
    if missing:
        state = (
            "is empty or missing"
            if len(missing) == len(spec.files)
            else _missing_summary(missing, len(spec.files))
        )
        raise DatasetError(
            f"{spec.name}: cannot be downloaded automatically ({spec.note.split(';')[0]}); request it at "
            f"{spec.url} and place the {len(spec.files)} HR images (e.g. {spec.files[0]}) in {hr_dir} "
            f"- that folder {state}; or pass the path of a folder holding them"
        )
    return HRDataset(name=spec.name, root=hr_dir, files=tuple(found))


def _ensure_archive(spec: BenchmarkSpec, downloads: Path, *, progress: bool) -> Path:
    """The verified archive for ``spec`` in ``downloads``, downloading it when absent or corrupt."""
    archive = downloads / spec.archive_name
    if archive.is_file():
        ok = spec.size is None or archive.stat().st_size == spec.size
        if ok and spec.sha256 is not None:
            ok = sha256_file(archive) == spec.sha256.lower()
        if ok:
            return archive
        archive.unlink()
    return download_file(spec.url, archive, sha256=spec.sha256, progress=progress, size=spec.size)


def _write_marker(ds_dir: Path, spec: BenchmarkSpec, count: int) -> None:
    info = {
        "name": spec.name,
        "url": spec.url,
        "sha256": spec.sha256,
        "hr_subdir": spec.hr_subdir,
        "images": count,
    }
    tmp = ds_dir / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, ds_dir / COMPLETE_MARKER)


def _benchmark_dataset(
    spec: BenchmarkSpec, *, download: bool, cache: Path | None, progress: bool
) -> HRDataset:
    root = _datasets_root(cache)
    ds_dir = root / spec.name
    if spec.manual:
        return _manual_dataset(spec, ds_dir)
    hr_dir = ds_dir.joinpath(*PurePosixPath(spec.hr_subdir).parts)
    if (ds_dir / COMPLETE_MARKER).is_file():
        found, missing = _expected_paths(spec, hr_dir)
        if not missing:
            return HRDataset(name=spec.name, root=hr_dir, files=tuple(found))
    if not download:
        raise DatasetError(
            f"{spec.name}: not in the cache ({ds_dir}); drop --no-download (API: download=True) to fetch "
            f"it from {spec.url}, or pass the path of a folder holding its HR images"
        )
    archive = _ensure_archive(spec, root / DOWNLOADS_DIRNAME, progress=progress)
    if ds_dir.exists():
        shutil.rmtree(ds_dir)  # an earlier extraction was interrupted or damaged: start afresh
    extract_archive(archive, ds_dir, members=spec.members or None)
    found, missing = _expected_paths(spec, hr_dir)
    if missing:
        raise DatasetError(
            f"{spec.name}: {archive.name} extracted to {ds_dir} but "
            f"{_missing_summary(missing, len(spec.files))} in {spec.hr_subdir}"
        )
    _write_marker(ds_dir, spec, len(found))
    return HRDataset(name=spec.name, root=hr_dir, files=tuple(found))


def resolve_dataset(
    name_or_path: str | Path,
    *,
    download: bool = True,
    cache: Path | None = None,
    progress: bool = True,
) -> HRDataset:
    """Resolve a folder, an image file, ``'sample'`` or a benchmark name to an :class:`HRDataset`.

    Lookup order: an existing path (folder -> its images, non-recursive; file -> a one-image dataset),
    then ``'sample'`` (the bundled CC0 photograph), then a benchmark name or alias from
    :data:`BENCHMARKS` (case-insensitive). A benchmark is taken from ``<cache>/datasets/<name>``
    (``cache`` defaults to :func:`srkit.settings.cache_dir`); when it is not there it is downloaded,
    verified and extracted once if ``download`` is true.

    Raises:
        DatasetError: the name is neither a path nor a known dataset (the message lists the valid names),
            a benchmark is missing and ``download`` is false or it needs manual placement (the message says
            how to get it), or a download/verification/extraction failed.
    """
    text = str(name_or_path).strip()
    if not text:
        raise DatasetError("empty dataset name; give a folder, an image file, 'sample' or a benchmark name")
    path = Path(text).expanduser()
    if path.is_dir():
        images = list_images(path)
        resolved = path.resolve()
        return HRDataset(name=resolved.name, root=resolved, files=tuple(p.resolve() for p in images))
    if path.is_file():
        return _single_image(path)
    if text.lower() == "sample":
        return _single_image(sample_image_path(), name="sample")
    spec = find_benchmark(text)
    if spec is not None:
        return _benchmark_dataset(spec, download=download, cache=cache, progress=progress)
    valid = ", ".join(["sample", *benchmark_names()])
    raise DatasetError(
        f"{text}: not an existing file or folder, nor a known dataset; valid names: {valid} "
        f"(or a path to a folder of HR images / one image)"
    )
