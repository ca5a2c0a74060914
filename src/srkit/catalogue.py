"""The catalogue of published weights: a plain table NAME -> :class:`PublishedModel` (no torch).

Each entry is a checkpoint as its authors publish it (a GitHub release asset, a raw file of the authors'
repository pinned to a commit, or the authors' own server), the srkit architecture (``family``) it
converts to, what it was trained on, its licence, the Set5/Set14 PSNR its authors publish and how the
download is checked:

- ``sha256``: a full SHA-256 from a source that publishes it (OpenModelDB's catalogue, a Git LFS
  pointer's oid, or the sha256 of the identical file in ``$SRKIT_SHARED/weights/*/PROVENANCE.md``);
- ``sha256_prefix``: the first 8 hex digits of the SHA-256 that a torch-hub style file name carries
  (``edsr_x2-0edfb8a3.pt``): a prefix check, weaker than a full hash;
- neither: no trustworthy hash is known; such a file is only taken with ``--allow-unverified``.

``srkit models pull NAME`` (:mod:`srkit.infer.zoo`) downloads an entry into ``<cache>/zoo/NAME/``,
verifies it before it takes its final name, converts it once to ``<cache>/zoo/NAME/NAME.safetensors``
and works offline afterwards. ``$SRKIT_ZOO_URL`` replaces every entry's URL by
``$SRKIT_ZOO_URL/<entry.path>`` (a mirror, or a local test server). ``docs/models.md`` is the catalogue
as a table with srkit's own measurements beside the published numbers.

The parameter counts are those of srkit's network (``build_model(entry.build, **entry.hparams)``),
checked by the tests, and equal to the checkpoint's tensors for the files in ``$SRKIT_SHARED/weights``.
Published PSNR: Y channel, dB, border crop = scale, MATLAB-bicubic LR; ``published`` names where each
number was checked (the authors' material, copies of the paper's table, or "unverified"; docs/models.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from srkit.settings import cache_dir

__all__ = [
    "PUBLISHED",
    "ZOO_DIRNAME",
    "ZOO_URL_ENV",
    "PublishedModel",
    "find_published",
    "source_url",
    "zoo_dir",
]

#: Environment variable whose value replaces the catalogue's URLs: ``<value>/<entry.path>``.
ZOO_URL_ENV = "SRKIT_ZOO_URL"
#: Folder of the pulled models inside the cache (:func:`srkit.settings.cache_dir`).
ZOO_DIRNAME = "zoo"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class PublishedModel:
    """One published checkpoint.

    Attributes:
        name: what ``--model`` and ``srkit models pull`` accept (lower case, ``[a-z0-9-]``).
        family: the srkit architecture it converts to (a key of :data:`srkit.archs.ARCHS`).
        scale: the upscaling factor this entry stands for (a multi-scale file has one entry per
            factor; conversion asks for this one).
        params: parameters of srkit's network.
        training_data: what it was trained on.
        licence: the licence of the weights (SPDX id), or ``'none stated'``.
        commercial_use: ``True`` allowed, ``False`` forbidden by the licence, ``None`` unknown (no
            licence stated: ask the authors). Printed at pull time unless ``True``.
        url: the authors' download URL (a page, for ``manual`` entries).
        path: relative path under ``$SRKIT_ZOO_URL`` (``<folder>/<file>``); its last component is the
            file's name in the cache.
        sha256: full SHA-256 of the published file, or ``None`` when no source publishes one.
        sha256_prefix: the 8 hex digits a torch-hub file name carries, or ``None``.
        hash_source: where ``sha256``/``sha256_prefix`` come from (or why there is none).
        size: file size in bytes where known (checked after download).
        set5_psnr, set14_psnr: published Y-PSNR (dB), ``None`` where the authors publish none.
        published: where the PSNR numbers come from.
        build: registry name (architecture or preset) that, with ``hparams``, builds srkit's network
            (used to check ``params``; conversion reads the hyper-parameters off the tensors).
        hparams: hyper-parameters for ``build``.
        manual: the URL is a page (Google Drive): srkit cannot download it; the user places the file
            in the cache by hand (``$SRKIT_ZOO_URL`` still downloads it from a mirror).
        note: anything a user should know (variants, known problems).
    """

    name: str
    family: str
    scale: int
    params: int
    training_data: str
    licence: str
    commercial_use: bool | None
    url: str
    path: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    hash_source: str = ""
    size: int | None = None
    set5_psnr: float | None = None
    set14_psnr: float | None = None
    published: str = ""
    build: str = ""
    hparams: Mapping[str, object] = field(default_factory=dict, hash=False)
    manual: bool = False
    note: str = ""

    @property
    def file(self) -> str:
        """The file's name in the cache (the last component of :attr:`path`)."""
        return PurePosixPath(self.path).name

    @property
    def verification(self) -> str:
        """``'sha256'`` (full hash), ``'prefix'`` (8-digit hash prefix) or ``'none'``."""
        if self.sha256:
            return "sha256"
        return "prefix" if self.sha256_prefix else "none"

    @property
    def folder(self) -> Path:
        """``<cache>/zoo/<name>``: the published file and its conversion (looked up when asked)."""
        return zoo_dir() / self.name

    @property
    def download_path(self) -> Path:
        """Where the published file lives in the cache (and where a user may put it by hand)."""
        return self.folder / self.file

    @property
    def weights_path(self) -> Path:
        """The srkit weight file converted from it."""
        return self.folder / f"{self.name}.safetensors"

    @property
    def pulled(self) -> bool:
        """True when the converted weight file is in the cache."""
        return self.weights_path.is_file()

    @property
    def licence_notice(self) -> str | None:
        """One line on the licence when it restricts or does not settle commercial use, else ``None``."""
        if self.commercial_use is False:
            return f"{self.name}: licence {self.licence} forbids commercial use"
        if self.commercial_use is None:
            return (
                f"{self.name}: licence {self.licence}: no licence grants commercial use; ask the authors "
                "before using it commercially"
            )
        return None

    def check(self) -> list[str]:
        """What is malformed about this entry (empty when nothing): name, hashes, path, scale."""
        problems = []
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.name):
            problems.append(f"name {self.name!r} is not [a-z0-9-]")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            problems.append(f"sha256 {self.sha256!r} is not 64 lower-case hex digits")
        if self.sha256_prefix is not None and not _PREFIX.fullmatch(self.sha256_prefix):
            problems.append(f"sha256_prefix {self.sha256_prefix!r} is not 8 lower-case hex digits")
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            problems.append("sha256 does not start with sha256_prefix")
        parts = PurePosixPath(self.path).parts
        if len(parts) < 2 or any(p in ("", ".", "..") for p in parts) or self.path.startswith("/"):
            problems.append(f"path {self.path!r} is not a relative <folder>/<file>")
        if not self.url.startswith("https://"):
            problems.append(f"url {self.url!r} is not https")
        if self.scale < 1 or self.params < 1:
            problems.append("scale and params must be positive")
        return problems


def zoo_dir() -> Path:
    """``<cache>/zoo`` (:func:`srkit.settings.cache_dir`, i.e. ``$SRKIT_CACHE`` or ``~/.cache/srkit``)."""
    return cache_dir() / ZOO_DIRNAME


def source_url(entry: PublishedModel) -> str:
    """Where ``entry`` is downloaded from: ``$SRKIT_ZOO_URL/<entry.path>`` when that is set, else its URL."""
    base = os.environ.get(ZOO_URL_ENV, "").strip()
    return f"{base.rstrip('/')}/{entry.path}" if base else entry.url


def find_published(name: str) -> PublishedModel | None:
    """The catalogue entry named ``name`` (case-insensitive, surrounding spaces ignored), or ``None``."""
    return PUBLISHED.get(str(name).strip().lower())


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


def _raw(repo: str, commit: str, path: str) -> str:
    """A file of a GitHub repository at a commit (GitHub serves LFS files there too)."""
    return f"https://github.com/{repo}/raw/{commit}/{path}"


def _release(repo: str, tag: str, file: str) -> str:
    return f"https://github.com/{repo}/releases/download/{tag}/{file}"


_REALESRGAN = "xinntao/Real-ESRGAN"
_REALESRGAN_DATA = "DF2K+OST, Real-ESRGAN synthetic degradations"
_SHARED = (
    "sha256 of the identical file in $SRKIT_SHARED/weights/{}/PROVENANCE.md (fetched from the pinned commit)"
)
_OMDB = "OpenModelDB data/models/{}.json"
_LFS_OMDB = "Git LFS pointer oid (zoo-sha256.md), = OpenModelDB data/models/{}.json"
_HUB = "torch-hub file-name prefix"
_NO_HASH = "none published (no OpenModelDB entry, no LFS pointer, no shared copy)"
_GDRIVE = "none published (Google Drive only)"

_IMDN = ("Zheng222/IMDN", "8f158e6a5ac9db6e5857d9159fd4a6c4214da574")
_IMDN_PUB = "IMDN paper / PROVENANCE (imdn), Set5 re-measured equal"
_PAN = ("zhaohengyuan1/PAN", "4d045d18592c5771cd3990da88f292812774e538")
_PAN_PUB = "PAN paper table / PROVENANCE (pan), Set5 re-measured equal"
_RLFN = ("bytedance/RLFN", "bccfde91bf8b2de80789ec033a029e6f2a932330")
_RLFN_PUB = "RLFN paper Table 1 as copied by other projects (RLFN-S: unverified) / PROVENANCE (rlfn)"
_BSRN = ("xiaom233/BSRN", "2d63d5239c9fa9810b9c1aea93e98d42ece09efc")
_BSRN_PUB = "BSRN paper as copied by other projects (x2, x3: unverified) / PROVENANCE (bsrn)"
_CARN = ("nmhkahn/CARN-pytorch", "40d3514f81cccd680d846cd5ab07af35f2c8e0e2")
_CARN_PUB = "CARN paper table / PROVENANCE (carn_m); the re-released checkpoint differs slightly"
_EDSR_URL = "https://cv.snu.ac.kr/research/EDSR/models/{}"
_EDSR_PUB = "EDSR paper table (x4: ESRGAN README; others: copies in other READMEs; baseline x3 unverified)"
_SWINIR = ("JingyunLiang/SwinIR", "v0.0")
_SWINIR_PUB = "SwinIR paper tables as copied by other projects (M x4: also the HAT README)"
_HAT_URL = "https://drive.google.com/drive/folders/1HpmReFfoUqUbnAOQ7rvOeNU3uf_m69w0"
_HAT_PUB = "HAT README, without ImageNet pre-training (x2: unverified)"
_SPAN_URL = "https://drive.google.com/file/d/1iYUA2TzKuxI0vzmA-UXr_nB43XgPOXUg"


def _entries() -> list[PublishedModel]:
    e = PublishedModel
    return [
        # ---- SRVGGNetCompact (Real-ESRGAN compact) -------------------------------------------------
        e("realesr-animevideov3", "srvgg_compact", 4, 621_424, "anime video, Real-ESRGAN degradations",
          "BSD-3-Clause", True, _release(_REALESRGAN, "v0.2.5.0", "realesr-animevideov3.pth"),
          "realesr-animevideov3/realesr-animevideov3.pth",
          sha256="b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
          hash_source=_OMDB.format("4x-realesr-animevideo-v3"), size=2_504_012,
          published="GAN model: no PSNR published", build="realesr-animevideov3", hparams={"scale": 4},
          note="the copy in $SRKIT_SHARED/weights is re-zipped (another sha256): it is refused"),
        e("realesr-general-x4v3", "srvgg_compact", 4, 1_213_296, "general scenes, Real-ESRGAN degradations",
          "BSD-3-Clause", True, _release(_REALESRGAN, "v0.2.5.0", "realesr-general-x4v3.pth"),
          "realesr-general-x4v3/realesr-general-x4v3.pth",
          sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
          hash_source=_OMDB.format("4x-realesr-general-x4v3"), size=4_885_111,
          published="GAN model: no PSNR published", build="realesr-general-x4v3", hparams={"scale": 4}),
        # ---- RRDBNet: Real-ESRGAN -------------------------------------------------------------------
        e("realesrgan-x4plus", "rrdbnet", 4, 16_697_987, _REALESRGAN_DATA, "BSD-3-Clause", True,
          _release(_REALESRGAN, "v0.1.0", "RealESRGAN_x4plus.pth"), "realesrgan/RealESRGAN_x4plus.pth",
          sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
          hash_source=_LFS_OMDB.format("4x-realesrgan-x4plus"), size=67_040_989,
          published="GAN model: no PSNR published", build="rrdbnet", hparams={"scale": 4}),
        e("realesrgan-x2plus", "rrdbnet", 2, 16_703_171, _REALESRGAN_DATA, "BSD-3-Clause", True,
          _release(_REALESRGAN, "v0.2.1", "RealESRGAN_x2plus.pth"), "realesrgan/RealESRGAN_x2plus.pth",
          sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
          hash_source=_LFS_OMDB.format("2x-realesrgan-x2plus"), size=67_061_725,
          published="GAN model: no PSNR published", build="rrdbnet",
          hparams={"scale": 2, "pixel_unshuffle": True}),
        e("realesrgan-x4plus-anime-6b", "rrdbnet", 4, 4_467_779, "anime images, Real-ESRGAN degradations",
          "BSD-3-Clause", True, _release(_REALESRGAN, "v0.2.2.4", "RealESRGAN_x4plus_anime_6B.pth"),
          "realesrgan/RealESRGAN_x4plus_anime_6B.pth",
          sha256="f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
          hash_source=_LFS_OMDB.format("4x-realesrgan-x4plus-anime-6b"), size=17_938_799,
          published="GAN model: no PSNR published", build="rrdbnet", hparams={"scale": 4, "num_block": 6}),
        e("realesrnet-x4plus", "rrdbnet", 4, 16_697_987, _REALESRGAN_DATA + " (L1 only, no GAN)",
          "BSD-3-Clause", True, _release(_REALESRGAN, "v0.1.1", "RealESRNet_x4plus.pth"),
          "realesrgan/RealESRNet_x4plus.pth",
          sha256="a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",
          hash_source="Git LFS pointer oid (zoo-sha256.md; not in OpenModelDB)", size=67_040_989,
          published="blind-SR model: no bicubic PSNR published", build="rrdbnet", hparams={"scale": 4}),
        # ---- RRDBNet / MSRResNet: BasicSR's official files --------------------------------------------
        e("esrgan-x4-basicsr", "rrdbnet", 4, 16_697_987, "DF2K+OST, bicubic (ESRGAN, perceptual)",
          "Apache-2.0", True, _release(_REALESRGAN, "v0.1.1", "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"),
          "esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", sha256_prefix="ff704c30",
          hash_source=_HUB + " (BasicSR's official ESRGAN, also a Real-ESRGAN v0.1.1 asset)",
          published="GAN model: no PSNR published", build="esrgan", hparams={"scale": 4}),
        e("rrdb-psnr-x4-basicsr", "rrdbnet", 4, 16_697_987, "DF2K, bicubic (ESRGAN's PSNR-oriented RRDB)",
          "Apache-2.0", True, "https://drive.google.com/file/d/1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM",
          "esrgan/ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth", sha256_prefix="150ff491",
          hash_source=_HUB + " (file id from BasicSR scripts/download_pretrained_models.py)",
          set5_psnr=32.73, set14_psnr=28.99, published="ESRGAN README, RRDB PSNR-oriented",
          build="rrdbnet", hparams={"scale": 4}, manual=True),
        e("msrresnet-x4-basicsr", "msrresnet", 4, 1_517_571, "DIV2K, bicubic", "Apache-2.0", True,
          "https://drive.google.com/drive/folders/1XN4WXKJ53KQ0Cu0Yv-uCt8DZWq6uufaP",
          "msrresnet/001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb.pth", hash_source=_GDRIVE,
          published="BasicSR ModelZoo publishes RGB PSNR only (Set5 30.25, Set14 26.78)",
          build="msrresnet", hparams={"scale": 4}, manual=True,
          note="BasicSR's reproduced 001_MSRResNet_x4 model (models/net_g_1000000.pth in that folder)"),
        # ---- EDSR: the authors' torch-hub files (EDSR-PyTorch) ----------------------------------------
        e("edsr-baseline-x2-official", "edsr", 2, 1_369_859, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_baseline_x2-1bc95232.pt"), "edsr/edsr_baseline_x2-1bc95232.pt",
          sha256="1bc9523228fdc3b0a5ddb0d7062001e22b31bbb398ae09cfdefb97e8ee06e171", sha256_prefix="1bc95232",
          hash_source="Git LFS pointer oid (zoo-sha256.md), = torch-hub file-name prefix", size=5_490_680,
          set5_psnr=37.99, set14_psnr=33.57, published=_EDSR_PUB, build="edsr-baseline",
          hparams={"scale": 2}),
        e("edsr-baseline-x3-official", "edsr", 3, 1_554_499, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_baseline_x3-abf2a44e.pt"), "edsr/edsr_baseline_x3-abf2a44e.pt",
          sha256="abf2a44e7a137228efa42a4264a23e12603168d43ac7596b1adef40c649b9240", sha256_prefix="abf2a44e",
          hash_source="Git LFS pointer oid (zoo-sha256.md), = torch-hub file-name prefix", size=6_229_240,
          set5_psnr=34.36, set14_psnr=30.28, published=_EDSR_PUB, build="edsr-baseline",
          hparams={"scale": 3}),
        e("edsr-baseline-x4-official", "edsr", 4, 1_517_571, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_baseline_x4-6b446fab.pt"), "edsr/edsr_baseline_x4-6b446fab.pt",
          sha256="6b446fab734f4de74448d2fd1f3f990f5bae726e49dc7eff2ae9cefe444a1723", sha256_prefix="6b446fab",
          hash_source="Git LFS pointer oid (zoo-sha256.md), = torch-hub file-name prefix", size=6_081_831,
          set5_psnr=32.09, set14_psnr=28.58, published=_EDSR_PUB, build="edsr-baseline",
          hparams={"scale": 4}),
        e("edsr-x2-official", "edsr", 2, 40_729_603, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_x2-0edfb8a3.pt"), "edsr/edsr_x2-0edfb8a3.pt", sha256_prefix="0edfb8a3",
          hash_source=_HUB, set5_psnr=38.11, set14_psnr=33.92, published=_EDSR_PUB, build="edsr",
          hparams={"scale": 2}),
        e("edsr-x3-official", "edsr", 3, 43_680_003, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_x3-ea3ef2c6.pt"), "edsr/edsr_x3-ea3ef2c6.pt", sha256_prefix="ea3ef2c6",
          hash_source=_HUB, set5_psnr=34.65, set14_psnr=30.52, published=_EDSR_PUB, build="edsr",
          hparams={"scale": 3}),
        e("edsr-x4-official", "edsr", 4, 43_089_923, "DIV2K, bicubic", "MIT", True,
          _EDSR_URL.format("edsr_x4-4f62e9ef.pt"), "edsr/edsr_x4-4f62e9ef.pt", sha256_prefix="4f62e9ef",
          hash_source=_HUB, set5_psnr=32.46, set14_psnr=28.80, published=_EDSR_PUB, build="edsr",
          hparams={"scale": 4}),
        # ---- SPAN -------------------------------------------------------------------------------------
        e("span-ch28-ntire24-x4", "span", 4, 150_688, "DIV2K+LSDIR, bicubic", "MIT", True,
          _raw("Amazingren/NTIRE2024_ESR", "6404fa48dde4a4adbf241a51debdc661aef20449",
               "model_zoo/team38_span_ch28_slim.pth"),
          "span/ntire24_span_ch28_slim.pth",
          sha256="6c80f05048313289c6526e5fc9726688d7bb3dfdd6ae3c8b1e7dd09f601e5971",
          hash_source=_SHARED.format("span"), size=618_658,
          published="NTIRE 2024 ESR: ranked by speed with a PSNR floor, no Set5 number",
          build="span-ch28", hparams={"scale": 4, "reparameterized": True},
          note="28-channel challenge SPAN (re-parameterised); the paper's SPAN has 48 channels"),
        e("span-ch48-x4", "span", 4, 426_288, "bicubic (see the SPAN paper)", "Apache-2.0", True,
          _SPAN_URL, "span/spanx4_ch48.pth", hash_source=_GDRIVE, set5_psnr=32.20, set14_psnr=28.66,
          published="unverified", build="span-ch48", hparams={"scale": 4, "reparameterized": True},
          manual=True, note="the authors' Google Drive archive of all SPAN checkpoints; extract the x4 one"),
        e("span-ch48-x2", "span", 2, 410_700, "bicubic (see the SPAN paper)", "Apache-2.0", True,
          _SPAN_URL, "span/spanx2_ch48.pth", hash_source=_GDRIVE, published="not recorded here",
          build="span-ch48", hparams={"scale": 2, "reparameterized": True}, manual=True,
          note="the authors' Google Drive archive of all SPAN checkpoints; extract the x2 one"),
        # ---- RLFN -------------------------------------------------------------------------------------
        e("rlfn-x4", "rlfn", 4, 543_740, "DF2K, bicubic", "Apache-2.0", True,
          _raw(*_RLFN, "model_zoo/rlfn_x4.pth"), "rlfn/rlfn_x4.pth",
          sha256="8c7edb57dfc89048bafba29d591d4c27d4099964b4a9e22df23d6dc257a637c0",
          hash_source=_SHARED.format("rlfn"), size=2_212_893, set5_psnr=32.24, set14_psnr=28.62,
          published=_RLFN_PUB, build="rlfn", hparams={"scale": 4}),
        e("rlfn-x2", "rlfn", 2, 526_856, "DF2K, bicubic", "Apache-2.0", True,
          _raw(*_RLFN, "model_zoo/rlfn_x2.pth"), "rlfn/rlfn_x2.pth", hash_source=_NO_HASH,
          set5_psnr=38.07, set14_psnr=33.72, published=_RLFN_PUB, build="rlfn", hparams={"scale": 2}),
        e("rlfn-s-x4", "rlfn", 4, 470_208, "DF2K, bicubic", "Apache-2.0", True,
          _raw(*_RLFN, "model_zoo/rlfn_s_x4.pth"), "rlfn/rlfn_s_x4.pth", hash_source=_NO_HASH,
          set5_psnr=32.23, set14_psnr=28.61, published=_RLFN_PUB, build="rlfn-s", hparams={"scale": 4}),
        e("rlfn-s-x2", "rlfn", 2, 454_620, "DF2K, bicubic", "Apache-2.0", True,
          _raw(*_RLFN, "model_zoo/rlfn_s_x2.pth"), "rlfn/rlfn_s_x2.pth", hash_source=_NO_HASH,
          set5_psnr=38.05, set14_psnr=33.68, published=_RLFN_PUB, build="rlfn-s", hparams={"scale": 2}),
        # ---- IMDN -------------------------------------------------------------------------------------
        e("imdn-x4", "imdn", 4, 715_176, "DIV2K, bicubic", "none stated", None,
          _raw(*_IMDN, "checkpoints/IMDN_x4.pth"), "imdn/IMDN_x4.pth",
          sha256="e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714",
          hash_source=_SHARED.format("imdn"), size=2_879_112, set5_psnr=32.21, set14_psnr=28.58,
          published=_IMDN_PUB, build="imdn", hparams={"scale": 4}),
        e("imdn-x3", "imdn", 3, 703_059, "DIV2K, bicubic", "none stated", None,
          _raw(*_IMDN, "checkpoints/IMDN_x3.pth"), "imdn/IMDN_x3.pth", hash_source=_NO_HASH,
          set5_psnr=34.36, set14_psnr=30.32, published=_IMDN_PUB, build="imdn", hparams={"scale": 3}),
        e("imdn-x2", "imdn", 2, 694_404, "DIV2K, bicubic", "none stated", None,
          _raw(*_IMDN, "checkpoints/IMDN_x2.pth"), "imdn/IMDN_x2.pth", hash_source=_NO_HASH,
          set5_psnr=38.00, set14_psnr=33.63, published=_IMDN_PUB, build="imdn", hparams={"scale": 2}),
        # ---- RFDN -------------------------------------------------------------------------------------
        e("rfdn-aim-x4", "rfdn", 4, 433_448, "DIV2K, bicubic", "MIT", True,
          _raw("njulj/RFDN", "7cf4e25b6633e81fd7e26891aeee2baca4f8f927", "trained_model/RFDN_AIM.pth"),
          "rfdn/RFDN_AIM.pth", sha256="11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
          hash_source=_SHARED.format("rfdn") + "; identical in NTIRE2022/2023_ESR", size=1_754_927,
          published="AIM 2020 challenge variant: not in the paper's tables", build="rfdn",
          hparams={"scale": 4, "num_feat": 50, "num_block": 4},
          note="AIM 2020 challenge RFDN (50 channels, 4 blocks), input in [0, 255]"),
        # ---- PAN --------------------------------------------------------------------------------------
        e("pan-x4", "pan", 4, 272_419, "DF2K, bicubic", "none stated", None,
          _raw(*_PAN, "experiments/pretrained_models/PANx4_DF2K.pth"), "pan/PANx4_DF2K.pth",
          sha256="739fab99ee7b7058dab4d1b84aa2869bb9fc3995a1c08789c20355bee943833c",
          hash_source=_SHARED.format("pan"), size=1_121_681, set5_psnr=32.13, set14_psnr=28.61,
          published=_PAN_PUB, build="pan", hparams={"scale": 4}),
        e("pan-x3", "pan", 3, 261_403, "DF2K, bicubic", "none stated", None,
          _raw(*_PAN, "experiments/pretrained_models/PANx3_DF2K.pth"), "pan/PANx3_DF2K.pth",
          hash_source=_NO_HASH, set5_psnr=34.40, set14_psnr=30.36, published=_PAN_PUB, build="pan",
          hparams={"scale": 3}),
        e("pan-x2", "pan", 2, 261_403, "DF2K, bicubic", "none stated", None,
          _raw(*_PAN, "experiments/pretrained_models/PANx2_DF2K.pth"), "pan/PANx2_DF2K.pth",
          hash_source=_NO_HASH, set5_psnr=38.00, set14_psnr=33.59, published=_PAN_PUB, build="pan",
          hparams={"scale": 2}),
        # ---- CARN-M: one multi-scale file, one entry per factor -----------------------------------------
        *(
            e(f"carn-m-x{s}", "carn_m", s, 414_787, "DIV2K, bicubic", "MIT", True,
              _raw(*_CARN, "checkpoint/carn_m.pth"), "carn_m/carn_m.pth",
              sha256="d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
              hash_source=_SHARED.format("carn_m"), size=1_670_695, set5_psnr=p5, set14_psnr=p14,
              published=_CARN_PUB, build="carn_m", hparams={"scale": s, "multi_scale": True},
              note="one multi-scale network (x2/x3/x4 branches); the entries share the file")
            for s, p5, p14 in ((2, 37.53, 33.26), (3, 33.99, 30.08), (4, 31.92, 28.42))
        ),
        # ---- BSRN -------------------------------------------------------------------------------------
        e("bsrn-x4", "bsrn", 4, 352_400, "DF2K, bicubic", "MIT", True,
          _raw(*_BSRN, "experiments/pretrained_models/net_g_BSRN_x4.pth"), "bsrn/net_g_BSRN_x4.pth",
          sha256="47518e0f549f5696da0c84ca2d65bf50d789c7ac20e621909f5fd6c8c8d70bcb",
          hash_source=_SHARED.format("bsrn"), size=1_524_813, set5_psnr=32.35, set14_psnr=28.73,
          published=_BSRN_PUB, build="bsrn", hparams={"scale": 4}),
        e("bsrn-x3", "bsrn", 3, 340_283, "DF2K, bicubic", "MIT", True,
          _raw(*_BSRN, "experiments/pretrained_models/net_g_BSRN_x3.pth"), "bsrn/net_g_BSRN_x3.pth",
          hash_source=_NO_HASH, set5_psnr=34.46, set14_psnr=30.47, published=_BSRN_PUB, build="bsrn",
          hparams={"scale": 3}),
        e("bsrn-x2", "bsrn", 2, 331_628, "DF2K, bicubic", "MIT", True,
          _raw(*_BSRN, "experiments/pretrained_models/net_g_BSRN_x2.pth"), "bsrn/net_g_BSRN_x2.pth",
          hash_source=_NO_HASH, set5_psnr=38.10, set14_psnr=33.74, published=_BSRN_PUB, build="bsrn",
          hparams={"scale": 2}),
        # ---- LapSRN -----------------------------------------------------------------------------------
        e("lapsrn-x4", "lapsrn", 4, 870_112, "T91+BSDS200, bicubic, Y channel", "MIT", True,
          _raw("twtygqyy/pytorch-LapSRN", "81c91a647a8f693ca8b95f338c2c6242b0de3fe9",
               "model/model_epoch_100.pth"),
          "lapsrn/model_epoch_100.pth", hash_source=_NO_HASH, set5_psnr=31.65, set14_psnr=28.27,
          published="pytorch-LapSRN README (MATLAB-prepared inputs)", build="lapsrn", hparams={"scale": 4},
          note="a whole-module pickle that srkit refuses to unpickle: extract its state dict "
          "(docs/models.md) and place that file in the cache instead"),
        # ---- SwinIR: classical x2/x4 releases -----------------------------------------------------------
        e("swinir-s-x2", "swinir", 2, 910_152, "DIV2K, bicubic", "Apache-2.0", True,
          _release(_SWINIR[0], _SWINIR[1], "002_lightweightSR_DIV2K_s64w8_SwinIR-S_x2.pth"),
          "swinir/002_lightweightSR_DIV2K_s64w8_SwinIR-S_x2.pth", hash_source=_NO_HASH,
          set5_psnr=38.14, set14_psnr=33.86, published=_SWINIR_PUB, build="swinir-s", hparams={"scale": 2}),
        e("swinir-s-x4", "swinir", 4, 929_628, "DIV2K, bicubic", "Apache-2.0", True,
          _release(_SWINIR[0], _SWINIR[1], "002_lightweightSR_DIV2K_s64w8_SwinIR-S_x4.pth"),
          "swinir/002_lightweightSR_DIV2K_s64w8_SwinIR-S_x4.pth", hash_source=_NO_HASH,
          set5_psnr=32.44, set14_psnr=28.77, published=_SWINIR_PUB, build="swinir-s", hparams={"scale": 4}),
        e("swinir-m-x2", "swinir", 2, 11_752_487, "DF2K, bicubic", "Apache-2.0", True,
          _release(_SWINIR[0], _SWINIR[1], "001_classicalSR_DF2K_s64w8_SwinIR-M_x2.pth"),
          "swinir/001_classicalSR_DF2K_s64w8_SwinIR-M_x2.pth", hash_source=_NO_HASH,
          set5_psnr=38.42, set14_psnr=34.46, published=_SWINIR_PUB, build="swinir-m", hparams={"scale": 2}),
        e("swinir-m-x4", "swinir", 4, 11_900_199, "DF2K, bicubic", "Apache-2.0", True,
          _release(_SWINIR[0], _SWINIR[1], "001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth"),
          "swinir/001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth", hash_source=_NO_HASH,
          set5_psnr=32.92, set14_psnr=29.09, published=_SWINIR_PUB, build="swinir-m", hparams={"scale": 4}),
        # ---- HAT (Google Drive only) --------------------------------------------------------------------
        e("hat-s-x4", "hat", 4, 9_621_183, "DF2K, bicubic", "Apache-2.0", True, _HAT_URL,
          "hat/HAT-S_SRx4.pth",
          hash_source=_GDRIVE, set5_psnr=32.92, set14_psnr=29.15, published=_HAT_PUB, build="hat-s",
          hparams={"scale": 4}, manual=True),
        e("hat-x4", "hat", 4, 20_772_507, "DF2K, bicubic", "Apache-2.0", True, _HAT_URL, "hat/HAT_SRx4.pth",
          hash_source=_GDRIVE, set5_psnr=33.04, set14_psnr=29.23, published=_HAT_PUB, build="hat",
          hparams={"scale": 4}, manual=True),
        e("hat-x2", "hat", 2, 20_624_795, "DF2K, bicubic", "Apache-2.0", True, _HAT_URL, "hat/HAT_SRx2.pth",
          hash_source=_GDRIVE, set5_psnr=38.63, set14_psnr=34.86, published=_HAT_PUB, build="hat",
          hparams={"scale": 2}, manual=True),
    ]  # fmt: skip


#: NAME -> entry, in the order ``srkit models`` lists them.
PUBLISHED: dict[str, PublishedModel] = {entry.name: entry for entry in _entries()}
