"""Training and validation datasets for single-image super-resolution.

:class:`SRTrainDataset` yields random ``(LR, HR)`` patch pairs, in one of two modes:

- **HR-only** (``lr_dirs=None``): the LR patch is made on the fly by a degradation group drawn per sample
  from a weighted list (:class:`GroupWeight`); the group id travels in the sample (``'group'``, an index
  into ``dataset.group_names``).
- **paired** (``lr_dirs`` given, one LR folder per HR folder): files are matched by stem, the LR file being
  ``<stem>.*`` or ``<stem>x<scale>.*`` (the DIV2K / EDSR naming); a random ``p x p`` LR crop and the
  matching ``(p*s) x (p*s)`` HR crop are taken. ``group_names`` is ``['paired']``.

Conventions (the same as ``srkit eval``):

- images are quantised to uint8 (``floor(x * 255 + 0.5)``) and mod-cropped to a multiple of the scale;
  grayscale images are expanded to 3 channels (training models are RGB) and alpha is dropped;
- the LR of an HR-only sample is ``group.degrade`` on uint8 (MATLAB rounding after each resize pass), and
  patches are returned as float32 ``uint8 / 255``;
- crops are aligned: the HR crop is the LR crop times the scale (top-left corner ``(y*s, x*s)``).

**Crop margin (exact LR patches).** Degrading a bare HR crop would treat the crop's edges as image
borders (symmetric padding) and change the LR pixels near them. Instead, the HR region degraded is the
crop plus ``context`` LR pixels (``context * s`` HR pixels) on each side, clipped to the image, and the
margin is cropped away afterwards. Wherever the margin is clipped, the region's edge *is* the image edge,
so the padding is the same as for the whole image. With ``context`` at least the kernel's half-support in
LR pixels (2 for bicubic, 3 for Lanczos-3; the default 4 covers every built-in group) every LR pixel of
the patch is bit-identical to the same pixel of ``group.degrade(whole mod-cropped HR)``; a group with a
blur widens the margin by the blur radius (:meth:`~srkit.degrade.DegradationGroup.extra_context`). Noise and
JPEG run on the degraded region: the noise is drawn for the region (seeded per sample, below) and the JPEG
blocks are aligned to it, so those patches are degraded like an image of their own.

**Randomness.** Everything random about a sample (crop position, augmentations, a group's noise) comes
from generators seeded from ``(seed, epoch, index)``; the group of a sample is
``make_group_assignment(weights, len, seed, epoch)[index]``. No global RNG state is used, so samples do
not depend on the worker count or on which worker builds them, and a resumed run only needs ``(epoch,
position)`` (see :func:`srkit.data.sampler.build_train_loader`). The dataset is indexed by an ``int``
(using the epoch set by :meth:`SRTrainDataset.set_epoch`) or by a :class:`~srkit.data.sampler.SampleKey`
``(index, epoch, group)`` that carries its own epoch and optionally forces the group.

**Virtual epochs.** With ``length=L`` an epoch has ``L`` samples; sample ``i`` of epoch ``e`` uses image
``(e * L + i) % n_images``, so every image is used about equally even when ``L < n_images``.

**Small images.** An image smaller than the HR patch (after mod-crop) raises :class:`DatasetError` naming
the file and its size (no padding: padded patches would teach the model the padding). Sizes are checked
from the file headers when the dataset is built and again when an image is decoded.

**Cache.** With ``cache=True``, or ``'auto'`` and the decoded size estimated from the file headers
within ``max_cache_bytes`` (``'auto'`` turns the cache off when a header cannot be read), decoded images
are kept in memory as uint8 ``(C, H, W)`` tensors (gray images with one channel) after their first read.
DataLoader workers each fill their own cache unless :meth:`SRTrainDataset.preload` ran in the parent
process first (``build_train_loader`` does this when workers are used); then the workers share the
parent's decoded images (copy-on-write pages under fork, shared memory otherwise).

:class:`ValDataset` yields whole (optionally centre-cropped) validation images, LR made exactly as in
``srkit eval``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from srkit.colour import to_uint8
from srkit.data.augment import AugmentConfig, augment_pair
from srkit.data.benchmarks import list_images
from srkit.data.sampler import STREAM_DEGRADE, STREAM_ITEM, SampleKey, make_group_assignment
from srkit.degrade import DegradationGroup, get_group
from srkit.errors import ConfigError, DatasetError, PixelLimitError
from srkit.io import read_header, read_image

CONTEXT_LR = 4
"""Default crop margin in LR pixels (see the module docstring)."""

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class GroupWeight:
    """A degradation group (a name from :data:`srkit.degrade.GROUPS`) and its sampling weight."""

    name: str
    weight: float = 1.0


class PatchLocation(NamedTuple):
    """Where a training sample comes from: image number (into ``dataset.hr_files``), the top-left corner
    of the LR crop in LR pixels (the HR crop starts at ``(top * scale, left * scale)``) and the group."""

    image: int
    top: int
    left: int
    group: int


def load_uint8(path: Path) -> torch.Tensor:
    """Decode ``path`` to a uint8 ``(C, H, W)`` tensor, C = 1 (gray) or 3; alpha is dropped."""
    pixels = read_image(path).pixels
    if pixels.dim() != 3 or pixels.shape[0] not in (1, 3):
        raise DatasetError(f"{path}: expected 1 or 3 channels, got shape {tuple(pixels.shape)}")
    return to_uint8(pixels).contiguous()


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Expand a 1-channel ``(1, H, W)`` tensor to 3 channels (a copy); 3-channel tensors pass through."""
    return x.expand(3, -1, -1).contiguous() if x.shape[0] == 1 else x


def probe_image(path: Path) -> tuple[int, int, int] | None:
    """``(width, height, channels)`` from the file header (:func:`srkit.io.read_header`, no decoding),
    channels 1 or 3; ``None`` when the header cannot be read (decoding the file then says why).

    Raises:
        PixelLimitError: the image has more pixels than :func:`srkit.io.read_image` accepts (the same
            one-line error).
    """
    try:
        header = read_header(path)
    except PixelLimitError:
        raise
    except Exception:
        return None
    return header.width, header.height, 1 if header.mode in _GRAY_MODES else 3


def find_lr_file(hr: Path, lr_files: dict[str, Path], scale: int) -> Path | None:
    """The LR file for ``hr`` among ``lr_files`` (stem -> path): stem ``<stem>`` or ``<stem>x<scale>``."""
    return lr_files.get(hr.stem) or lr_files.get(f"{hr.stem}x{scale}")


def _check_positive_int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
    return int(value)


def _check_non_negative_int(value: int, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: must be a non-negative integer, got {value!r}")
    return value


def _as_folders(dirs: Sequence[Path | str]) -> Sequence[Path | str]:
    """A single folder as a one-element list; a sequence of folders as it is."""
    return [dirs] if isinstance(dirs, (str, Path)) else dirs


def _resolve_cache(cache: bool | Literal["auto"], estimated: int | None, max_cache_bytes: int) -> bool:
    """Whether to cache decoded images: ``cache`` itself, or for ``'auto'`` whether the estimated size
    is known and within ``max_cache_bytes``."""
    if cache == "auto":
        return estimated is not None and estimated <= max_cache_bytes
    if isinstance(cache, bool):
        return cache
    raise ConfigError(f"cache: must be true, false or 'auto', got {cache!r}")


def holdout_files(hr_dirs: Sequence[Path | str], count: int) -> list[Path]:
    """``count`` images of ``hr_dirs`` carved out as a validation set: every ``k``-th of all their image
    files sorted by path (``k = n // count``), so the set spreads over the folders; ``[]`` for 0.

    Raises:
        ConfigError: ``count`` leaves no image to train on.
    """
    if count <= 0:
        return []
    files = sorted(f for folder in _as_folders(hr_dirs) for f in list_images(folder))
    if count >= len(files):
        raise ConfigError(f"data.val.holdout: {count} images leave none of the {len(files)} to train on")
    step = len(files) // count
    return files[::step][:count]


def degrade_window(
    hr: torch.Tensor,
    group: DegradationGroup,
    scale: int,
    top: int,
    left: int,
    height: int,
    width: int,
    context: int = CONTEXT_LR,
    seed: int = 0,
) -> torch.Tensor:
    """The ``height x width`` LR window at LR ``(top, left)`` of ``group.degrade(hr)``, computed from the
    HR region around it only (``context`` LR pixels of margin for the resize kernel plus the group's blur
    radius, :meth:`~srkit.degrade.DegradationGroup.extra_context`, clipped to the image; see the module
    docstring).
    ``hr`` is uint8 or float ``(C, H, W)`` with ``H``, ``W`` multiples of ``scale``; ``seed`` seeds the
    group's noise."""
    context += group.extra_context(scale)
    lh, lw = hr.shape[-2] // scale, hr.shape[-1] // scale
    y0, x0 = max(0, top - context), max(0, left - context)
    y1, x1 = min(lh, top + height + context), min(lw, left + width + context)
    region = hr[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale]
    lr = group.degrade(region, scale, seed=seed)
    return lr[..., top - y0 : top - y0 + height, left - x0 : left - x0 + width]


class SRTrainDataset(Dataset):
    """Random ``(LR, HR)`` training patches (see the module docstring).

    Args:
        hr_dirs: folders of HR images (not searched recursively).
        scale: integer upscaling factor.
        patch_size: LR patch side ``p``; the HR patch is ``p * scale``.
        lr_dirs: paired mode: one LR folder per HR folder, files matched by stem.
        groups: HR-only mode: degradation groups and weights (``GroupWeight`` or plain names).
        augment: augmentation settings.
        cache: keep decoded images in memory: ``True``, ``False`` or ``'auto'`` (when the estimated
            decoded size fits in ``max_cache_bytes``).
        max_cache_bytes: the ``'auto'`` budget.
        length: samples per epoch (a virtual epoch); default: the number of images.
        seed: seed of every random draw.
        context: crop margin in LR pixels for exact on-the-fly LR.
        exclude: HR files left out (the validation images carved out of the folders, :func:`holdout_files`).

    Items are dicts: ``'lr'`` float32 ``(3, p, p)`` and ``'hr'`` float32 ``(3, p*s, p*s)`` in ``[0, 1]``,
    ``'group'`` (int, index into :attr:`group_names`) and ``'index'`` (the sample index).
    """

    def __init__(
        self,
        hr_dirs: Sequence[Path | str],
        *,
        scale: int,
        patch_size: int,
        lr_dirs: Sequence[Path | str] | None = None,
        groups: Sequence[GroupWeight | str] = (GroupWeight("bicubic"),),
        augment: AugmentConfig = AugmentConfig(),  # noqa: B008 - frozen dataclass, immutable
        cache: bool | Literal["auto"] = "auto",
        max_cache_bytes: int = 4 << 30,
        length: int | None = None,
        seed: int = 0,
        context: int = CONTEXT_LR,
        exclude: Sequence[Path] = (),
    ) -> None:
        self.exclude = tuple(exclude)
        hr_dirs = _as_folders(hr_dirs)
        if not hr_dirs:
            raise ConfigError("hr_dirs: at least one HR folder is needed")
        self.scale = _check_positive_int(scale, "scale")
        self.patch_size = _check_positive_int(patch_size, "patch_size")
        self.hr_patch = self.patch_size * self.scale
        self.seed = _check_non_negative_int(seed, "seed")
        self.context = _check_non_negative_int(context, "context")
        if not isinstance(augment, AugmentConfig):
            raise ConfigError(f"augment: expected an AugmentConfig, got {type(augment).__name__}")
        self.augment = augment
        self.epoch = 0

        self.hr_files: list[Path] = []
        self.lr_files: list[Path] | None = None
        weights = [GroupWeight(g) if isinstance(g, str) else g for g in groups]
        if lr_dirs is None:
            self._add_hr_only(hr_dirs, weights)
        else:
            self._add_paired(hr_dirs, _as_folders(lr_dirs), weights)
        self.group_names: list[str] = [g.name for g in self.groups] if self.groups else ["paired"]

        self.num_images = len(self.hr_files)
        self.length = self.num_images if length is None else _check_positive_int(length, "length")

        self.estimated_cache_bytes = self._estimate_cache_bytes()
        self.cache_enabled = _resolve_cache(cache, self.estimated_cache_bytes, max_cache_bytes)
        self._cache: dict[tuple[int, bool], torch.Tensor] = {}
        self._assignment: tuple[int, np.ndarray] | None = None

    def _add_hr_only(self, hr_dirs: Sequence[Path | str], weights: list[GroupWeight]) -> None:
        """HR-only mode: every image of ``hr_dirs`` but the held-out ones (``exclude``); degradation
        groups and weights from ``weights``."""
        excluded = {Path(p) for p in self.exclude}
        for folder in hr_dirs:
            self.hr_files.extend(f for f in list_images(folder) if f not in excluded)
        if not weights:
            raise ConfigError("groups: at least one degradation group is needed")
        self.groups: list[DegradationGroup] = [get_group(g.name) for g in weights]
        self.group_weights = [float(g.weight) for g in weights]
        make_group_assignment(self.group_weights, 1, 0, 0)  # validates the weights

    def _add_paired(
        self, hr_dirs: Sequence[Path | str], lr_dirs: Sequence[Path | str], weights: list[GroupWeight]
    ) -> None:
        """Paired mode: every image of ``hr_dirs`` with its LR file from the matching ``lr_dirs`` folder."""
        if len(lr_dirs) != len(hr_dirs):
            raise ConfigError(
                f"lr_dirs: {len(lr_dirs)} LR folder(s) for {len(hr_dirs)} HR folder(s); "
                "give one per HR folder"
            )
        if weights != [GroupWeight("bicubic")]:
            raise ConfigError("groups: degradation groups are not used with lr_dirs (paired LR/HR folders)")
        self.lr_files = []
        for hr_dir, lr_dir in zip(hr_dirs, lr_dirs, strict=True):
            lr_by_stem = {p.stem: p for p in list_images(lr_dir)}
            for hr in list_images(hr_dir):
                lr = find_lr_file(hr, lr_by_stem, self.scale)
                if lr is None:
                    raise DatasetError(
                        f"{hr}: no LR image named {hr.stem}.* or {hr.stem}x{self.scale}.* in {lr_dir}"
                    )
                self.hr_files.append(hr)
                self.lr_files.append(lr)
        self.groups = []
        self.group_weights = [1.0]

    def _estimate_cache_bytes(self) -> int | None:
        """Decoded size of every image (and paired LR image) from the file headers, checking each HR
        size on the way; ``None`` when a header cannot be read."""
        estimated = 0
        known = True
        for path in self.hr_files:
            probe = probe_image(path)
            if probe is None:
                known = False
                continue
            width, height, channels = probe
            self._check_size(path, height, width)
            estimated += width * height * channels
            if self.lr_files is not None:
                estimated += (width // self.scale) * (height // self.scale) * channels
        return estimated if known else None

    # -- epochs and groups -------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """The epoch used when the dataset is indexed by a plain ``int``."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch: must be a non-negative integer, got {epoch!r}")
        self.epoch = epoch

    def group_assignment(self, epoch: int) -> np.ndarray:
        """The group id of every sample index of ``epoch`` (see :func:`make_group_assignment`)."""
        if self._assignment is None or self._assignment[0] != epoch:
            ids = make_group_assignment(self.group_weights, self.length, self.seed, epoch)
            self._assignment = (epoch, ids)
        return self._assignment[1]

    def __len__(self) -> int:
        return self.length

    # -- images --------------------------------------------------------------------------------------

    def _check_size(self, path: Path, height: int, width: int) -> None:
        hc, wc = height - height % self.scale, width - width % self.scale
        if hc < self.hr_patch or wc < self.hr_patch:
            raise DatasetError(
                f"{path}: image is {width}x{height}, smaller than the {self.hr_patch}x{self.hr_patch} "
                f"HR patch (patch_size {self.patch_size} x scale {self.scale}) after mod-crop; "
                "remove it or lower patch_size"
            )

    def _image(self, image: int, lr: bool = False) -> torch.Tensor:
        """The decoded uint8 ``(C, H, W)`` HR (or paired LR) image number ``image``, cached if enabled."""
        key = (image, lr)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        path = self.lr_files[image] if lr else self.hr_files[image]  # type: ignore[index]
        pixels = load_uint8(path)
        if not lr:
            self._check_size(path, int(pixels.shape[-2]), int(pixels.shape[-1]))
        if self.cache_enabled:
            self._cache[key] = pixels
        return pixels

    def preload(self, threads: int | None = None) -> None:
        """Decode every image into the cache now (no-op when the cache is off), with a thread pool.

        Called in the parent process before DataLoader workers start, the workers share these tensors
        instead of each decoding and caching its own copy."""
        if not self.cache_enabled:
            return
        keys = [(i, False) for i in range(self.num_images)]
        if self.lr_files is not None:
            keys += [(i, True) for i in range(self.num_images)]
        keys = [k for k in keys if k not in self._cache]
        workers = threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda k: self._image(*k), keys))

    # -- samples -------------------------------------------------------------------------------------

    def _resolve(self, key: int | SampleKey | tuple) -> tuple[int, int, int | None]:
        if isinstance(key, tuple):
            index, epoch, group = SampleKey(*key)
        else:
            index, epoch, group = key, self.epoch, None
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range [0, {self.length})")
        if group is not None and not 0 <= int(group) < len(self.group_names):
            raise IndexError(f"group id {group} out of range [0, {len(self.group_names)})")
        return index, int(epoch), None if group is None else int(group)

    def _item_rngs(self, epoch: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
        """Independent crop and augmentation generators of sample ``(epoch, index)``."""
        crop, aug = np.random.SeedSequence([STREAM_ITEM, self.seed, epoch, index]).spawn(2)
        return np.random.default_rng(crop), np.random.default_rng(aug)

    def _degrade_seed(self, epoch: int, index: int) -> int:
        """The seed of a random group's noise for sample ``(epoch, index)`` (its own stream: the crop and
        augmentation draws are the same with or without it)."""
        return int(np.random.SeedSequence([STREAM_DEGRADE, self.seed, epoch, index]).generate_state(1)[0])

    def _locate(self, index: int, epoch: int, group: int | None, rng: np.random.Generator) -> PatchLocation:
        image = (epoch * self.length + index) % self.num_images
        if group is None:
            group = int(self.group_assignment(epoch)[index])
        if self.lr_files is None:
            hr = self._image(image)
            lh, lw = int(hr.shape[-2]) // self.scale, int(hr.shape[-1]) // self.scale
        else:
            lr, hr = self._image(image, lr=True), self._image(image)
            lh, lw = int(lr.shape[-2]), int(lr.shape[-1])
            hh, hw = int(hr.shape[-2]), int(hr.shape[-1])
            if lh != hh // self.scale or lw != hw // self.scale:
                raise DatasetError(
                    f"{self.lr_files[image]}: LR image is {lw}x{lh} but HR {self.hr_files[image]} "
                    f"is {hw}x{hh}; expected {hw // self.scale}x{hh // self.scale} for scale {self.scale}"
                )
        top = int(rng.integers(0, lh - self.patch_size + 1))
        left = int(rng.integers(0, lw - self.patch_size + 1))
        return PatchLocation(image, top, left, group)

    def sample_location(self, key: int | SampleKey) -> PatchLocation:
        """Where sample ``key`` is cropped from (decodes the image if not cached); for tests and debugging."""
        index, epoch, group = self._resolve(key)
        return self._locate(index, epoch, group, self._item_rngs(epoch, index)[0])

    def __getitem__(self, key: int | SampleKey) -> dict:
        index, epoch, group = self._resolve(key)
        crop_rng, aug_rng = self._item_rngs(epoch, index)
        loc = self._locate(index, epoch, group, crop_rng)
        p, s = self.patch_size, self.scale
        hr_image = self._image(loc.image)
        hr = hr_image[:, loc.top * s : (loc.top + p) * s, loc.left * s : (loc.left + p) * s]
        if self.lr_files is None:
            hc, wc = (int(hr_image.shape[-2]) // s) * s, (int(hr_image.shape[-1]) // s) * s
            degradation = self.groups[loc.group]
            noise_seed = self._degrade_seed(epoch, index) if degradation.random else 0
            window = (loc.top, loc.left, p, p)
            lr = degrade_window(hr_image[:, :hc, :wc], degradation, s, *window, self.context, seed=noise_seed)
        else:
            lr = self._image(loc.image, lr=True)[:, loc.top : loc.top + p, loc.left : loc.left + p]
        lr_f, hr_f = augment_pair(to_rgb(lr), to_rgb(hr), self.augment, aug_rng)
        return {"lr": lr_f, "hr": hr_f, "group": loc.group, "index": index}


class ValDataset(Dataset):
    """Whole validation images: HR quantised to uint8 and mod-cropped, LR made by the degradation group
    (MATLAB bicubic on uint8 by default), exactly as ``srkit eval`` does. Gray images are expanded to 3
    channels. Meant for batch size 1 (images differ in size).

    ``center_crop`` (HR pixels, rounded down to a multiple of ``scale``, capped at the image size) keeps
    only a centred region for fast validation; its LR is computed with the crop margin, so it equals the
    same window of the whole image's LR.

    Items: ``{'lr': float32 (3, h, w), 'hr': float32 (3, h*s, w*s), 'name': file stem}``.
    """

    def __init__(
        self,
        hr_dir_or_files: Path | str | Sequence[Path | str],
        scale: int,
        group: str = "bicubic",
        center_crop: int | None = None,
    ) -> None:
        if isinstance(hr_dir_or_files, (str, Path)):
            path = Path(hr_dir_or_files).expanduser()
            self.files = list_images(path) if path.is_dir() else [path]
        else:
            self.files = [Path(p).expanduser() for p in hr_dir_or_files]
        if not self.files:
            raise DatasetError("validation: no images given")
        for path in self.files:
            if not path.is_file():
                raise DatasetError(f"{path}: no such file")
        self.scale = _check_positive_int(scale, "scale")
        self.group = get_group(group)
        if center_crop is not None:
            center_crop = _check_positive_int(center_crop, "center_crop")
            if center_crop < self.scale:
                raise ConfigError(f"center_crop: {center_crop} is smaller than the scale {self.scale}")
        self.center_crop = center_crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        s = self.scale
        hr = load_uint8(path)
        hc, wc = (int(hr.shape[-2]) // s) * s, (int(hr.shape[-1]) // s) * s
        if hc == 0 or wc == 0:
            raise DatasetError(f"{path}: image is {hr.shape[-1]}x{hr.shape[-2]}, smaller than the scale {s}")
        hr = hr[:, :hc, :wc]
        if self.center_crop is None:
            lr = self.group.degrade(hr, s)
        else:
            ch, cw = min(self.center_crop // s, hc // s), min(self.center_crop // s, wc // s)
            top, left = (hc // s - ch) // 2, (wc // s - cw) // 2
            lr = degrade_window(hr, self.group, s, top, left, ch, cw)
            hr = hr[:, top * s : (top + ch) * s, left * s : (left + cw) * s]
        return {
            "lr": to_rgb(lr).to(torch.float32).div_(255.0),
            "hr": to_rgb(hr).to(torch.float32).div_(255.0),
            "name": path.stem,
        }
