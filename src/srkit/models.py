"""Named models shipped with srkit: a plain table NAME -> :class:`ModelCard`.

A card says what a model is (architecture preset, scale, parameter count, training data, the recipe
that trains it), how well it does (Y-channel PSNR on Set5/Set14 measured with ``srkit eval``; filled in
when the weights are trained) and where its weights live: ``src/srkit/weights/<name>.safetensors``
inside the package (an srkit weight file, see :mod:`srkit.io.checkpoint`).

The weights are trained by srkit's own recipes (``configs/*.yaml``, ``srkit train``) and dropped into
:data:`WEIGHTS_DIR` under the card's file name; until then a card is listed by ``srkit models`` as not
available and asking for it gives a one-line error saying how to get it. ``srkit upscale`` without
``--model`` uses :data:`DEFAULT_MODELS` for the requested ``--scale``.

This module imports nothing heavy: ``srkit models`` lists the table without loading PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srkit.errors import ConfigError

__all__ = [
    "DEFAULT_MODELS",
    "MODELS",
    "WEIGHTS_DIR",
    "ModelCard",
    "default_model",
    "find_model",
    "model_weights",
]

#: Folder of the named models' weight files, inside the package.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_BSDS500 = "BSDS500 train+test (400 images), bicubic LR"
_ROBUST = "BSDS500 train+test, LR by bicubic/bilinear/nearest/area"


@dataclass(frozen=True)
class ModelCard:
    """One named model.

    Attributes:
        name: what ``--model`` / :func:`srkit.load_model` accept (lower case).
        file: weight file name inside :data:`WEIGHTS_DIR` (``<name>.safetensors``).
        scale: upscaling factor.
        arch: the architecture preset of :mod:`srkit.archs` (e.g. ``'edsr-baseline'``).
        params: number of parameters (checked against the architecture by the tests).
        training_data: what it was trained on.
        recipe: the ``srkit train`` recipe that produces the weights.
        set5_psnr, set14_psnr: Y-channel PSNR (dB, border crop = scale, bicubic LR) measured with
            ``srkit eval``; ``None`` until the weights exist and have been measured.
        description: one line for ``srkit models``.
    """

    name: str
    file: str
    scale: int
    arch: str
    params: int
    training_data: str
    recipe: str
    set5_psnr: float | None = None
    set14_psnr: float | None = None
    description: str = ""

    @property
    def path(self) -> Path:
        """The weight file: ``WEIGHTS_DIR / file`` (looked up when asked, so tests can move it)."""
        return WEIGHTS_DIR / self.file

    @property
    def available(self) -> bool:
        """True when the weight file is present."""
        return self.path.is_file()


def _card(name: str, **fields: object) -> tuple[str, ModelCard]:
    return name, ModelCard(name=name, file=f"{name}.safetensors", **fields)  # type: ignore[arg-type]


#: NAME -> card. Parameter counts are those of the architecture preset at that scale.
MODELS: dict[str, ModelCard] = dict(
    [
        _card(
            "edsr-baseline-x2",
            scale=2,
            arch="edsr-baseline",
            params=1_369_859,
            training_data=_BSDS500,
            recipe="configs/edsr_baseline_x2.yaml",
            description="EDSR-baseline (Lim et al. 2017), 16 blocks x 64 channels, L1; fast general x2",
            # docs/training.md: 3000 steps bf16 on a 2-core CPU (EMA weights), srkit eval fp32
            set5_psnr=36.82,
            set14_psnr=32.47,
        ),
        _card(
            "edsr-baseline-x3",
            scale=3,
            arch="edsr-baseline",
            params=1_554_499,
            training_data=_BSDS500,
            recipe="configs/finetune/edsr_baseline_x3_from_x2.yaml",
            description="EDSR-baseline (Lim et al. 2017), 16 blocks x 64 channels, L1; fast general x3 "
            "(x2 body + 500 CPU steps)",
            # docs/training.md: srkit eval fp32, bicubic LR
            set5_psnr=32.49,
            set14_psnr=29.08,
        ),
        _card(
            "edsr-baseline-x4",
            scale=4,
            arch="edsr-baseline",
            params=1_517_571,
            training_data=_BSDS500,
            recipe="configs/robust/edsr_baseline_x4_bicubic.yaml",
            description="EDSR-baseline (Lim et al. 2017), 16 blocks x 64 channels, L1; fast general x4 "
            "(x2 body + 500 CPU steps)",
            # docs/robustness.md (arm a): srkit eval fp32, bicubic LR
            set5_psnr=30.28,
            set14_psnr=27.30,
        ),
        _card(
            "edsr-baseline-x2-robust",
            scale=2,
            arch="edsr-baseline",
            params=1_369_859,
            training_data=_ROBUST,
            recipe="configs/robust/edsr_baseline_x2_dro.yaml",
            description="edsr-baseline-x2 + 500 Group DRO steps over 4 resampling kernels; worst group "
            "(nearest) Set5/Set14 29.90/27.26 dB vs 27.86/25.05 bicubic-trained (docs/robustness.md)",
            # docs/robustness.md: srkit eval fp32, bicubic LR
            set5_psnr=35.81,
            set14_psnr=31.64,
        ),
        _card(
            "edsr-baseline-x4-robust",
            scale=4,
            arch="edsr-baseline",
            params=1_517_571,
            training_data=_ROBUST,
            recipe="configs/robust/edsr_baseline_x4_dro.yaml",
            description="EDSR-baseline x4 (x2 body) + 500 Group DRO steps over 4 resampling kernels; worst "
            "group (nearest) Set5/Set14 27.25/24.73 dB vs 25.03/22.52 bicubic-trained (docs/robustness.md)",
            set5_psnr=29.32,
            set14_psnr=26.62,
        ),
        _card(
            "rrdb-psnr-x4",
            scale=4,
            arch="rrdbnet",
            params=16_697_987,
            training_data=_BSDS500,
            recipe="configs/rrdb_psnr_x4.yaml",
            description="RRDBNet (ESRGAN's PSNR-oriented network), 23 RRDBs; sharper, ~10x slower than EDSR",
        ),
    ]
)

#: The model ``srkit upscale`` uses for each ``--scale`` when no ``--model`` is given.
DEFAULT_MODELS: dict[int, str] = {2: "edsr-baseline-x2", 3: "edsr-baseline-x3", 4: "edsr-baseline-x4"}


def find_model(name: str) -> ModelCard | None:
    """The card named ``name`` (case-insensitive, surrounding spaces ignored), or ``None``."""
    return MODELS.get(str(name).strip().lower())


def default_model(scale: int) -> str:
    """The default named model for ``scale``.

    Raises:
        ConfigError: no named model upscales by ``scale``.
    """
    name = DEFAULT_MODELS.get(scale)
    if name is None:
        scales = ", ".join(f"x{s}" for s in sorted(DEFAULT_MODELS))
        raise ConfigError(f"scale: no named model upscales by x{scale} (named models: {scales})")
    return name


def model_weights(name: str) -> Path:
    """The weight file of the named model ``name``.

    Raises:
        ConfigError: one line: an unknown name (listing the known ones), or weights that are not
            installed (naming the file and the recipe that trains them).
    """
    card = find_model(name)
    if card is None:
        raise ConfigError(f"model: no named model {name!r}; named models: {', '.join(MODELS)}")
    if not card.available:
        raise ConfigError(
            f"model {card.name}: weights are not installed ({card.path} is missing); train them with "
            f"`srkit train {card.recipe}` and copy the run's best.safetensors there, or pass --model PATH"
        )
    return card.path
