"""The models the page offers: what ``srkit models`` lists that can run here without a download.

- interpolation baselines (:data:`srkit.degrade.KERNELS`: bicubic, ...), any scale;
- named models of :data:`srkit.models.MODELS` whose weights are installed (``card.available``);
- published models of :data:`srkit.catalogue.PUBLISHED` already pulled into the cache
  (``entry.pulled``: ``<cache>/zoo/NAME/NAME.safetensors``, :mod:`srkit.infer.zoo`);
- the weight files the server was started with (``srkit serve --model FILE``), by file stem.

The server runs only these names (never a path a request names), so a request cannot make it load an
arbitrary file or start a download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from srkit.catalogue import PUBLISHED
from srkit.degrade import KERNELS
from srkit.models import DEFAULT_MODELS, MODELS

__all__ = ["ModelChoice", "default_choice", "model_choices"]


@dataclass(frozen=True)
class ModelChoice:
    """One model of the page's list: ``name`` (what ``--model`` takes), ``kind`` (``baseline``,
    ``named`` or ``published``), its ``scale`` (``None``: any) and a one-line ``label``."""

    name: str
    kind: str
    scale: int | None
    label: str

    def to_json(self) -> dict[str, Any]:
        """The choice as a JSON object."""
        return asdict(self)


def _psnr(value: float | None) -> str:
    return "" if value is None else f", Set5 {value:.2f} dB"


def model_choices(files: Sequence[Path] = ()) -> list[ModelChoice]:
    """Baselines, installed named models, pulled published models and the server's weight ``files``, in
    that order (read from the tables and the file system each time: a model pulled while the server runs
    appears)."""
    choices = [ModelChoice(k, "baseline", None, f"{k} (interpolation, any scale)") for k in KERNELS]
    for card in MODELS.values():
        if card.available:
            label = f"{card.name} (x{card.scale}, {card.params / 1e6:.2f}M params{_psnr(card.set5_psnr)})"
            choices.append(ModelChoice(card.name, "named", card.scale, label))
    for entry in PUBLISHED.values():
        if entry.pulled:
            label = f"{entry.name} ({entry.family}, x{entry.scale}, {entry.licence}{_psnr(entry.set5_psnr)})"
            choices.append(ModelChoice(entry.name, "published", entry.scale, label))
    for path in files:
        choices.append(ModelChoice(path.stem, "file", _file_scale(path), f"{path.stem} (file {path.name})"))
    return choices


def _file_scale(path: Path) -> int | None:
    """The scale an srkit weight file records (``None``: not recorded, or a third-party checkpoint)."""
    if path.suffix.lower() != ".safetensors":
        return None
    from srkit.errors import SrkitError
    from srkit.io.checkpoint import read_weights_meta

    try:
        return read_weights_meta(path).scale
    except SrkitError:
        return None


def default_choice(choices: list[ModelChoice]) -> str:
    """The model ticked when the page opens: the default x4 named model when installed, else bicubic."""
    names = {c.name for c in choices}
    preferred = DEFAULT_MODELS.get(4)
    return preferred if preferred in names else "bicubic"
