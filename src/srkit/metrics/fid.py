"""Generative SR metrics: Fréchet Inception Distance, Inception Score and SR3's consistency.

**FID** (Heusel et al., NeurIPS 2017) is the Fréchet distance between two Gaussians fitted to the 2048-d
pool3 features (:class:`srkit.metrics.inception.InceptionFeatures`) of two image sets,

    ``d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``,

computed as pytorch-fid's ``calculate_frechet_distance`` does: statistics in float64 (mean, and the
unbiased covariance of ``np.cov``, ``N - 1`` in the denominator), ``(S1 S2)^(1/2)`` the principal matrix
square root of :func:`scipy.linalg.sqrtm` (never a diagonal approximation); when it is not finite,
``eps * I`` (``eps = 1e-6``) is added to both covariances and it is recomputed; an imaginary part (round-off
of a nearly singular product) is dropped when the diagonal's is within 1e-3 of 0, else it is an error.

A sample covariance of ``N`` vectors has rank at most ``N - 1``, so a full-rank 2048x2048 covariance needs
``N >= 2049`` images per set (:func:`min_images`; pytorch-fid's README says 2048, one short). Fewer
make ``S1 S2`` singular and the number depends on round-off and on ``eps``: :func:`fid_from_stats` and
:func:`fid_from_features` refuse them with a one-line error unless ``allow_rank_deficient=True``, which
returns a :class:`FIDResult` whose label says it is rank-deficient (tests, demos; not comparable with
published FID). :class:`FeatureStats` accumulates the mean and covariance in float64 batch by batch
(Chan et al.'s pairwise update), so features need not be held in memory.

**IS** (Salimans et al., NeurIPS 2016), as torch-fidelity computes it: the ``(N, 1008)`` logits of all
1008 outputs *without* the fc bias (``pool3 @ W^T``, as the original TF code and torch-fidelity's
``logits_unbiased``), samples shuffled with ``np.random.RandomState(2020).permutation(N)``, then ``splits``
(10) consecutive chunks ``[i N // splits, (i + 1) N // splits)``; per chunk ``exp(mean_x KL(p(y|x) ||
p(y)))`` with the softmax in float64 and ``p(y)`` the chunk's mean; the result is the mean and the
population standard deviation (``np.std``) over chunks.

**Consistency** (Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3), 2021, Table 1):
the MSE between the SR output downscaled by the degradation that made the LR and the LR, on RGB in
[0, 1]; SR3 reports it in units of 1e-5.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srkit.degrade.groups import get_group
from srkit.errors import SrkitError
from srkit.io.atomic import atomic_write_bytes
from srkit.metrics.inception import FEATURE_DIM

__all__ = [
    "CONSISTENCY_UNIT",
    "FID_EPS",
    "IS_SEED",
    "IS_SPLITS",
    "FIDResult",
    "FeatureStats",
    "consistency",
    "fid_from_features",
    "fid_from_stats",
    "frechet_distance",
    "inception_score",
    "min_images",
]

#: What pytorch-fid adds to the covariances' diagonals when the square root of their product is not finite.
FID_EPS = 1e-6
#: torch-fidelity's defaults for the Inception Score.
IS_SPLITS = 10
IS_SEED = 2020
#: SR3 (Table 1) reports consistency in units of 1e-5 (an MSE on [0, 1]).
CONSISTENCY_UNIT = 1e-5

ArrayLike = np.ndarray | torch.Tensor


def _float64(x: ArrayLike | Sequence[float], what: str) -> np.ndarray:
    arr = (
        x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    )
    if not np.isfinite(arr).all():
        raise SrkitError(f"{what}: holds NaN or infinite values")
    return arr


def min_images(dim: int = FEATURE_DIM) -> int:
    """Images per set for a full-rank ``dim x dim`` sample covariance: ``dim + 1`` (2049 for pool3)."""
    return dim + 1


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


class FeatureStats:
    """Running mean and covariance of feature vectors, in float64, without keeping the vectors.

    ``update`` folds in a batch with the pairwise update of Chan, Golub & LeVeque (1979): the mean and
    ``M2 = sum (x - mean)(x - mean)^T`` of the batch are merged exactly, so the result equals
    ``np.mean(f, 0)`` and ``np.cov(f, rowvar=False)`` of all the vectors up to round-off, whatever the
    batch sizes. Memory: one ``dim x dim`` float64 matrix (32 MiB for 2048).
    """

    def __init__(self, dim: int = FEATURE_DIM) -> None:
        if dim < 1:
            raise SrkitError(f"FeatureStats: dim must be >= 1, got {dim}")
        self.dim = int(dim)
        self.count = 0
        self._mean = np.zeros(self.dim)
        self._m2 = np.zeros((self.dim, self.dim))

    @classmethod
    def from_features(cls, features: ArrayLike) -> FeatureStats:
        """The statistics of an ``(N, dim)`` array."""
        arr = _float64(features, "features")
        if arr.ndim != 2:
            raise SrkitError(f"features: expected an (N, dim) array, got shape {arr.shape}")
        return cls(arr.shape[1]).update(arr)

    def _fold(self, count: int, mean: np.ndarray, m2: np.ndarray) -> FeatureStats:
        if count == 0:
            return self
        total = self.count + count
        delta = mean - self._mean
        self._mean = self._mean + delta * (count / total)
        self._m2 = self._m2 + m2 + np.outer(delta, delta) * (self.count * count / total)
        self.count = total
        return self

    def update(self, features: ArrayLike) -> FeatureStats:
        """Fold in an ``(n, dim)`` batch; returns ``self``."""
        arr = _float64(features, "features")
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise SrkitError(f"features: expected an (n, {self.dim}) array, got shape {arr.shape}")
        if arr.shape[0] == 0:
            return self
        mean = arr.mean(axis=0)
        centred = arr - mean
        return self._fold(arr.shape[0], mean, centred.T @ centred)

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Fold in another accumulator's vectors (e.g. another process's); returns ``self``."""
        if other.dim != self.dim:
            raise SrkitError(f"FeatureStats: cannot merge {other.dim}-d statistics into {self.dim}-d ones")
        return self._fold(other.count, other._mean, other._m2)

    @property
    def mean(self) -> np.ndarray:
        """The ``(dim,)`` mean (a copy)."""
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """The ``(dim, dim)`` unbiased covariance (``np.cov``'s, ``N - 1`` in the denominator)."""
        if self.count < 2:
            raise SrkitError(f"FeatureStats: a covariance needs at least 2 vectors, got {self.count}")
        return self._m2 / (self.count - 1)

    @property
    def full_rank(self) -> bool:
        """Whether there are enough vectors for a full-rank covariance (:func:`min_images`)."""
        return self.count >= min_images(self.dim)

    def save(self, path: str | Path) -> Path:
        """Write ``mu``, ``sigma`` (pytorch-fid's ``.npz`` keys) and ``count`` to ``path``, atomically."""
        buffer = io.BytesIO()
        np.savez(buffer, mu=self.mean, sigma=self.cov, count=np.int64(self.count))
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, count: int | None = None) -> FeatureStats:
        """Statistics from an ``.npz`` with ``mu`` and ``sigma`` (a pytorch-fid statistics file, or
        :meth:`save`'s), read without pickle. ``count`` gives the number of images when the file has no
        ``count`` entry (pytorch-fid's files do not), which the rank check needs.

        Raises:
            SrkitError: one line naming the file: unreadable, keys or shapes missing or inconsistent, or
                no image count.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError) as exc:
            raise SrkitError(f"{path}: not a statistics .npz file ({type(exc).__name__}: {exc})") from None
        if "mu" not in arrays or "sigma" not in arrays:
            raise SrkitError(f"{path}: a statistics file needs 'mu' and 'sigma', found {sorted(arrays)}")
        mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
        if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
            raise SrkitError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not fit together")
        if "count" in arrays:
            count = int(arrays["count"])
        if count is None:
            raise SrkitError(f"{path}: holds no image count; pass count=N (the number of images behind it)")
        if count < 2:
            raise SrkitError(f"{path}: an image count of {count} cannot give a covariance")
        out = cls(mu.size)
        out.count, out._mean, out._m2 = count, mu, sigma * (count - 1)
        return out


# --------------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------------


def _frechet(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float
) -> tuple[float, bool]:
    """The distance and whether ``eps * I`` had to be added."""
    try:  # optional dependency (in srkit's 'dev' extra), needed only for FID
        from scipy import linalg
    except ImportError:
        raise SrkitError(
            "fid: the matrix square root needs scipy; pip install 'srkit[metrics]' (or scipy)"
        ) from None

    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise SrkitError(
            f"frechet_distance: means of shapes {mu1.shape} and {mu2.shape} differ or are not 1-d"
        )
    d = mu1.size
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise SrkitError(
            f"frechet_distance: covariances of shapes {sigma1.shape} and {sigma2.shape} do not fit "
            f"{d}-d means"
        )
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    regularized = not np.isfinite(covmean).all()
    if regularized:
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            raise SrkitError(
                f"frechet_distance: the square root of S1 S2 has an imaginary diagonal part of {imag:.3g} "
                "(> 1e-3): the covariances are not valid (not positive semi-definite?)"
            )
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return value, regularized


def frechet_distance(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, *, eps: float = FID_EPS
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (float64), pytorch-fid's
    ``calculate_frechet_distance``: ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))`` with the true
    matrix square root; ``eps * I`` added to both covariances when it is not finite.

    Raises:
        SrkitError: shapes that do not fit, non-finite input, or an imaginary part above 1e-3.
    """
    return _frechet(
        _float64(mu1, "mu1"),
        _float64(sigma1, "sigma1"),
        _float64(mu2, "mu2"),
        _float64(sigma2, "sigma2"),
        eps,
    )[0]


@dataclass(frozen=True)
class FIDResult:
    """A Fréchet Inception Distance and what it rests on.

    ``full_rank`` is false only for a value computed with ``allow_rank_deficient=True`` from fewer than
    :func:`min_images` images in a set; such a value is not FID as published (its :attr:`label` says
    so). ``regularized``: ``eps * I`` was added to the covariances (as pytorch-fid does; it prints a
    message then).
    """

    value: float
    count1: int
    count2: int
    dim: int
    full_rank: bool
    regularized: bool

    def __float__(self) -> float:
        return self.value

    @property
    def label(self) -> str:
        """``'FID'``, or a label that says why the value is not comparable with published FID."""
        if self.full_rank:
            return "FID"
        return (
            f"FID (rank-deficient: {self.count1} and {self.count2} images, a full-rank {self.dim}-d "
            f"covariance needs {min_images(self.dim)}; not comparable with published FID)"
        )

    def __str__(self) -> str:
        return f"{self.label} = {self.value:.4f}"


def fid_from_stats(
    stats1: FeatureStats,
    stats2: FeatureStats,
    *,
    allow_rank_deficient: bool = False,
    eps: float = FID_EPS,
) -> FIDResult:
    """FID between two sets' :class:`FeatureStats`.

    Raises:
        SrkitError: one line, when a set has fewer than :func:`min_images` images ("not enough images for
            a full-rank covariance") and ``allow_rank_deficient`` is false, or the dimensions differ.
    """
    if stats1.dim != stats2.dim:
        raise SrkitError(f"fid: the two sets' features have {stats1.dim} and {stats2.dim} dimensions")
    need = min_images(stats1.dim)
    short = [(i, s.count) for i, s in ((1, stats1), (2, stats2)) if s.count < need]
    if short and not allow_rank_deficient:
        which = ", ".join(f"set {i} has {n}" for i, n in short)
        raise SrkitError(
            f"fid: not enough images for a full-rank covariance: {which} < {need} images (a {stats1.dim}-d "
            f"sample covariance of N images has rank at most N - 1); use at least {need} images per set, or "
            "pass allow_rank_deficient=True for a labelled value that is not comparable with published FID"
        )
    value, regularized = _frechet(stats1.mean, stats1.cov, stats2.mean, stats2.cov, eps)
    return FIDResult(value, stats1.count, stats2.count, stats1.dim, not short, regularized)


def fid_from_features(
    features1: ArrayLike,
    features2: ArrayLike,
    *,
    allow_rank_deficient: bool = False,
    eps: float = FID_EPS,
) -> FIDResult:
    """FID between two ``(N, dim)`` feature arrays (pool3: ``dim = 2048``); see :func:`fid_from_stats`."""
    return fid_from_stats(
        FeatureStats.from_features(features1),
        FeatureStats.from_features(features2),
        allow_rank_deficient=allow_rank_deficient,
        eps=eps,
    )


# --------------------------------------------------------------------------------------------------
# Inception Score
# --------------------------------------------------------------------------------------------------


def inception_score(
    logits: ArrayLike, splits: int = IS_SPLITS, *, shuffle: bool = True, seed: int = IS_SEED
) -> tuple[float, float]:
    """Inception Score ``(mean, std)`` of ``(N, C)`` logits over ``splits`` chunks, as torch-fidelity's
    ``isc_features_to_metric`` (see the module docstring): pass
    :meth:`~srkit.metrics.inception.InceptionFeatures.logits` (all 1008, without the fc bias).
    ``shuffle=False`` keeps the given order (the original TF code). Terms with ``p(y|x) = 0`` count 0
    (``0 log 0 = 0``).

    Raises:
        SrkitError: not a 2-d array, non-finite values, or fewer samples than splits.
    """
    x = _float64(logits, "logits")
    if x.ndim != 2 or x.shape[1] < 1:
        raise SrkitError(f"inception_score: expected (N, classes) logits, got shape {x.shape}")
    n = x.shape[0]
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise SrkitError(f"inception_score: splits must be a positive int, got {splits!r}")
    if n < splits:
        raise SrkitError(f"inception_score: {n} samples cannot make {splits} splits")
    if shuffle:
        x = x[np.random.RandomState(seed).permutation(n)]
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        p_chunk, log_chunk = p[rows], log_p[rows]
        q = p_chunk.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p_chunk > 0, p_chunk * (log_chunk - np.log(q)), 0.0)
        scores.append(float(np.exp(terms.sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------------------
# Consistency
# --------------------------------------------------------------------------------------------------


def _as_chw(image: ArrayLike, what: str) -> torch.Tensor:
    """numpy ``(H, W[, C])`` or torch ``(C, H, W)`` / ``(N, C, H, W)`` -> a torch tensor, channels first."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise SrkitError(f"consistency: {what} must be an (H, W) or (H, W, C) array, got {image.shape}")
        arr = image[..., None] if image.ndim == 2 else image
        return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
    if isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4):
            raise SrkitError(
                f"consistency: {what} must be a (C, H, W) or (N, C, H, W) tensor, got {tuple(image.shape)}"
            )
        return image.detach().cpu()
    raise SrkitError(
        f"consistency: {what} must be a numpy array or a torch tensor, got {type(image).__name__}"
    )


def _unit(t: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 -> float64 / 255; float -> float64, which must lie in [0, 1]."""
    if t.dtype == torch.uint8:
        return t.double() / 255.0
    if not t.is_floating_point():
        raise SrkitError(f"consistency: {what} has dtype {t.dtype}; use uint8 or float in [0, 1]")
    t = t.double()
    if t.numel() and (float(t.min()) < 0.0 or float(t.max()) > 1.0):
        raise SrkitError(
            f"consistency: float {what} must be in [0, 1], got values in [{float(t.min()):g}, "
            f"{float(t.max()):g}]; pass uint8 for 8-bit images"
        )
    return t


def consistency(sr: ArrayLike, lr: ArrayLike, scale: int, *, degradation: str = "bicubic") -> float:
    """SR3's consistency: ``mean((D(sr) - lr)^2)`` over all pixels and channels, on [0, 1].

    ``D`` is the degradation group ``degradation`` of :mod:`srkit.degrade` (default MATLAB
    ``imresize(sr, 1/scale, 'bicubic')``, the LR of ``srkit eval``): a uint8 ``sr`` is downscaled on the
    uint8 path (rounded after each pass, exactly as ``srkit eval`` makes its LR, so the HR image itself
    scores 0), a float ``sr`` in [0, 1] on the float path. Both images are then compared as float64 in
    [0, 1] (uint8 / 255). Images are numpy ``(H, W[, C])`` or torch ``(C, H, W)`` / ``(N, C, H, W)``;
    ``sr`` is ``scale`` times ``lr`` on each side. Multiply by ``1 / CONSISTENCY_UNIT`` for SR3's units.

    Raises:
        SrkitError: one line, for sizes that do not fit, an unknown degradation, or float values
            outside [0, 1].
    """
    group = get_group(degradation)
    sr_t, lr_t = _as_chw(sr, "sr"), _as_chw(lr, "lr")
    if sr_t.dim() != lr_t.dim() or sr_t.shape[:-2] != lr_t.shape[:-2]:
        raise SrkitError(
            f"consistency: sr {tuple(sr_t.shape)} and lr {tuple(lr_t.shape)} differ in batch or channels"
        )
    h, w = int(lr_t.shape[-2]), int(lr_t.shape[-1])
    if tuple(sr_t.shape[-2:]) != (h * scale, w * scale):
        raise SrkitError(
            f"consistency: sr is {sr_t.shape[-1]}x{sr_t.shape[-2]}, expected {w * scale}x{h * scale} "
            f"(lr {w}x{h} times {scale})"
        )
    source = sr_t if sr_t.dtype == torch.uint8 else _unit(sr_t, "sr")
    down = _unit(group.degrade(source, scale), "downscaled sr")
    return float(torch.mean((down - _unit(lr_t, "lr")) ** 2))
