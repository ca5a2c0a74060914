"""The FID Inception-v3: the TensorFlow 2015-12-05 Inception graph behind FID and IS, srkit's own code.

Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"
(NeurIPS 2017) define FID on the 2048-d ``pool_3`` features of the TensorFlow Inception-v3 graph
``inception-2015-12-05`` (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016); Salimans
et al. (NeurIPS 2016) define IS on its class posteriors. pytorch-fid and torch-fidelity port that graph
to PyTorch as torchvision's ``Inception3`` layout with four patched blocks; this module builds the same
network without torchvision:

- ``BasicConv2d``: convolution without bias, BatchNorm with ``eps = 0.001``, ReLU;
- stem ``Conv2d_1a_3x3`` (3->32, stride 2), ``Conv2d_2a_3x3`` (32->32), ``Conv2d_2b_3x3`` (32->64, pad 1),
  3x3/2 max-pool, ``Conv2d_3b_1x1`` (64->80), ``Conv2d_4a_3x3`` (80->192), 3x3/2 max-pool;
- ``Mixed_5b/5c/5d`` = :class:`FIDInceptionA` (pool features 32, 64, 64), ``Mixed_6a`` =
  :class:`InceptionB`, ``Mixed_6b..6e`` = :class:`FIDInceptionC` (7x7 channels 128, 160, 160, 192),
  ``Mixed_7a`` = :class:`InceptionD`, ``Mixed_7b`` = :class:`FIDInceptionE_1`, ``Mixed_7c`` =
  :class:`FIDInceptionE_2`;
- global average pool -> ``pool3`` (2048), ``fc`` 2048 -> 1008 (the graph's 1008 classes: ImageNet's
  1000 plus 8 unused outputs), no auxiliary head.

Where the FID blocks differ from torchvision's: the 3x3 average pool of the pool branch of A, C and E_1
excludes the zero padding from the mean (``count_include_pad=False``, as TensorFlow's ``AVG`` pooling
with ``SAME`` padding does), and E_2 (``Mixed_7c``) max-pools in its pool branch (as the TF graph does).
B and D are torchvision's unchanged.

Input pipeline (:meth:`InceptionFeatures.preprocess`), pytorch-fid's: RGB in [0, 1] (uint8 / 255 in
float32, as ``ToTensor`` gives), resized to 299x299 with ``F.interpolate(mode='bilinear',
align_corners=False)`` (no antialiasing; an identity at 299x299), then ``2 x - 1``. torch-fidelity feeds
uint8 through a TensorFlow-1.x-style bilinear resize (``align_corners=False`` in TF1's sense: source
``= dst * in / out``, no half-pixel offset) and ``(x - 128) / 128``; the two differ in the resize
(except at 299x299, where both are identities) and by up to 1/128 in the scaling (see docs/evaluation.md,
"Generative metrics").

Weights: pytorch-fid's published port ``pt_inception-2015-12-05-6726825d.pth`` (:data:`FID_WEIGHTS_URL`;
torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` is reported to be the same file), looked up as
``<srkit cache>/weights/pt_inception-2015-12-05-6726825d.pth`` (:func:`default_weights_path`, where
``srkit fetch-weights inception-fid`` puts it: :mod:`srkit.io.weight_files`) and read
through :func:`srkit.io.safe_load.read_checkpoint` (no pickled code runs). Its keys are this module's
state-dict keys (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``
``(1008, 2048)``, ``fc.bias``); BatchNorm ``num_batches_tracked`` entries may be present or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import SrkitError
from srkit.io.safe_load import read_checkpoint
from srkit.io.weight_files import fetch_hint
from srkit.settings import cache_dir

__all__ = [
    "BN_EPS",
    "FEATURE_DIM",
    "FID_WEIGHTS_BYTES",
    "FID_WEIGHTS_FILE",
    "FID_WEIGHTS_SHA256",
    "FID_WEIGHTS_URL",
    "INPUT_SIZE",
    "NUM_CLASSES",
    "BasicConv2d",
    "FIDInceptionA",
    "FIDInceptionC",
    "FIDInceptionE_1",
    "FIDInceptionE_2",
    "FIDInceptionV3",
    "InceptionB",
    "InceptionD",
    "InceptionFeatures",
    "default_weights_path",
    "inception_state_dict",
    "resolve_weights_path",
    "same_max_pool",
    "tf_avg_pool",
]

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE
#: SHA-256 and size of the published file as several public projects record them (their first 8 hex
#: digits are the ``6726825d`` of the file name, torch.hub's convention); not verified against a
#: download by srkit's tests, which never download.
FID_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_WEIGHTS_BYTES = 95_628_359

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
#: BatchNorm epsilon of every ``BasicConv2d`` (TensorFlow's 0.001, not PyTorch's default 1e-5).
BN_EPS = 1e-3


# --------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """``conv`` (no bias) -> ``bn`` (eps 0.001) -> ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool with SAME padding whose border means count only real pixels (TF)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def same_max_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 max pool with SAME padding (the pool branch of ``Mixed_7c``)."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


def _chain(x: torch.Tensor, *layers: nn.Module) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


class FIDInceptionA(nn.Module):
    """35x35 block (``Mixed_5b/c/d``): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | TF avg-pool -> 1x1.
    Output channels ``64 + 64 + 96 + pool_features``."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [
            self.branch1x1(x),
            _chain(x, self.branch5x5_1, self.branch5x5_2),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            self.branch_pool(tf_avg_pool(x)),
        ]
        return torch.cat(parts, dim=1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction (``Mixed_6a``): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max-pool.
    Output channels ``384 + 96 + in_channels``."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [
            self.branch3x3(x),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ]
        return torch.cat(parts, dim=1)


class FIDInceptionC(nn.Module):
    """17x17 block (``Mixed_6b..6e``) with factorised 7x7 convolutions (``c7`` channels inside):
    1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | TF avg-pool -> 1x1. Output 4 x 192."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding) of a 1x7 and a 7x1 convolution
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7_3 = BasicConv2d(c7, 192, col[0], padding=col[1])
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, row[0], padding=row[1])
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4)
        parts = [
            self.branch1x1(x),
            _chain(x, self.branch7x7_1, self.branch7x7_2, self.branch7x7_3),
            _chain(x, *dbl, self.branch7x7dbl_5),
            self.branch_pool(tf_avg_pool(x)),
        ]
        return torch.cat(parts, dim=1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction (``Mixed_7a``): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | 3x3/2
    max-pool. Output channels ``320 + 192 + in_channels``."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4)
        parts = [
            _chain(x, self.branch3x3_1, self.branch3x3_2),
            _chain(x, *seven),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ]
        return torch.cat(parts, dim=1)


class _InceptionE(nn.Module):
    """8x8 block with expanded filter banks: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) |
    pool -> 1x1. Output channels ``320 + 768 + 768 + 192 = 2048``. Subclasses choose the pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2)
        parts = [
            self.branch1x1(x),
            self.branch3x3_2a(a),
            self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b),
            self.branch3x3dbl_3b(b),
            self.branch_pool(self.pool(x)),
        ]
        return torch.cat(parts, dim=1)


class FIDInceptionE_1(_InceptionE):
    """``Mixed_7b``: the pool branch averages with TF's padding rule (:func:`tf_avg_pool`)."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return tf_avg_pool(x)


class FIDInceptionE_2(_InceptionE):
    """``Mixed_7c``: the pool branch max-pools (:func:`same_max_pool`), as the TF graph does."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return same_max_pool(x)


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 (see the module docstring), frozen and always in eval mode.

    :meth:`forward` takes the preprocessed ``(N, 3, 299, 299)`` input in [-1, 1] and returns the
    ``(N, 2048)`` pool3 features; :meth:`classify` maps them to the ``(N, 1008)`` logits. Initialised with
    PyTorch's default initialisation (random: for tests); load the published weights with
    :func:`inception_state_dict` or :meth:`InceptionFeatures.from_file`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE_1(1280)
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> FIDInceptionV3:
        """Always eval mode: BatchNorm uses the published running statistics."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _chain(x, self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3)  # 147x147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 73x73
        x = _chain(x, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3)  # 71x71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 35x35
        x = _chain(x, self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a)  # 17x17
        x = _chain(x, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a)  # 8x8
        x = _chain(x, self.Mixed_7b, self.Mixed_7c)
        return x.mean(dim=(2, 3))

    def classify(self, pool3: torch.Tensor, *, bias: bool = False) -> torch.Tensor:
        """``(N, 2048)`` pool3 -> ``(N, 1008)`` logits; without ``bias`` (the default) ``pool3 @ W^T``,
        the logits of the original TF Inception Score code and torch-fidelity's ``logits_unbiased``."""
        out = pool3 @ self.fc.weight.t()
        return out + self.fc.bias if bias else out


# --------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------


def default_weights_path() -> Path:
    """``<srkit cache>/weights/pt_inception-2015-12-05-6726825d.pth`` (the cache is ``$SRKIT_CACHE``,
    else ``$XDG_CACHE_HOME/srkit``, else ``~/.cache/srkit``)."""
    return cache_dir() / "weights" / FID_WEIGHTS_FILE


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}


def inception_state_dict(
    state: Mapping[str, torch.Tensor], source: str | Path = "state dict"
) -> dict[str, torch.Tensor]:
    """``state`` checked against :class:`FIDInceptionV3`'s keys and shapes, ready for
    ``load_state_dict(strict=True)``: missing BatchNorm ``num_batches_tracked`` entries are filled with 0
    (older files lack them); anything else missing, unexpected or misshapen is an error.

    Raises:
        SrkitError: one line naming ``source`` and the first offending key.
    """
    expected = _expected_shapes()
    out = dict(state)
    for key in expected:
        if key not in out:
            if key.endswith(".num_batches_tracked"):
                out[key] = torch.tensor(0, dtype=torch.long)
                continue
            missing = [k for k in expected if k not in out and not k.endswith(".num_batches_tracked")]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise SrkitError(f"{source}: not FID Inception-v3 weights: missing {key!r}{more}")
    for key, value in out.items():
        if key not in expected:
            raise SrkitError(f"{source}: not FID Inception-v3 weights: unexpected key {key!r}")
        if tuple(value.shape) != expected[key]:
            raise SrkitError(
                f"{source}: not FID Inception-v3 weights: {key!r} has shape {tuple(value.shape)}, "
                f"expected {expected[key]}"
            )
    return out


def resolve_weights_path(path: str | Path | None = None) -> Path:
    """The weight file to read: ``path``, or :func:`default_weights_path` when ``None``.

    Raises:
        SrkitError: one line naming the path, the published URL and its SHA-256, when it is missing.
    """
    found = default_weights_path() if path is None else Path(path).expanduser()
    if not found.is_file():
        fetch = fetch_hint(FID_WEIGHTS_FILE) if found == default_weights_path() else ""
        raise SrkitError(
            f"{found}: FID Inception-v3 weights not found; {f'{fetch}, or ' if fetch else ''}download "
            f"{FID_WEIGHTS_URL} (sha256 {FID_WEIGHTS_SHA256}) to that path, or pass another path "
            "(srkit eval --inception-weights FILE)"
        )
    return found


# --------------------------------------------------------------------------------------------------
# Images -> features
# --------------------------------------------------------------------------------------------------

ImageBatch = np.ndarray | torch.Tensor | Sequence[np.ndarray | torch.Tensor]


def _as_nchw(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """One array or tensor -> ``(N, 3, H, W)`` float32 in [0, 1] on the CPU (or the tensor's device).

    numpy is channels-last (``(H, W)``, ``(H, W, C)``, ``(N, H, W, C)``), torch channels-first
    (``(C, H, W)``, ``(N, C, H, W)``); C is 1 (repeated to RGB) or 3; uint8 is divided by 255, float
    must already be in [0, 1]."""
    if isinstance(image, np.ndarray):
        arr = image[..., None] if image.ndim == 2 else image
        if arr.ndim not in (3, 4):
            raise SrkitError(
                f"inception: expected a (H, W[, C]) or (N, H, W, C) array, got shape {image.shape}"
            )
        arr = arr[None] if arr.ndim == 3 else arr
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    elif isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4):
            raise SrkitError(
                f"inception: expected a (C, H, W) or (N, C, H, W) tensor, got shape {tuple(image.shape)}"
            )
        t = image[None] if image.dim() == 3 else image
    else:
        raise SrkitError(f"inception: expected a numpy array or a torch tensor, got {type(image).__name__}")
    if t.shape[1] not in (1, 3):
        raise SrkitError(f"inception: expected 1 (gray) or 3 (RGB) channels, got {t.shape[1]}")
    if t.dtype == torch.uint8:
        t = t.to(torch.float32) / 255
    elif t.is_floating_point():
        t = t.to(torch.float32)
        if t.numel() and (float(t.min()) < 0.0 or float(t.max()) > 1.0):
            raise SrkitError(
                f"inception: float images must be in [0, 1], got values in [{float(t.min()):g}, "
                f"{float(t.max()):g}]; pass uint8 for 8-bit images"
            )
    else:
        raise SrkitError(f"inception: unsupported dtype {t.dtype}; use uint8 or float in [0, 1]")
    return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t


class InceptionFeatures:
    """Images -> FID pool3 features and IS logits, with pytorch-fid's input pipeline.

    ``images`` everywhere is a numpy array (channels last: ``(H, W)``, ``(H, W, C)``, ``(N, H, W, C)``),
    a torch tensor (channels first: ``(C, H, W)``, ``(N, C, H, W)``), or a sequence of such (sizes may
    differ; each is resized to 299x299 on its own); uint8 (0..255) or float in [0, 1]; gray is repeated to
    RGB. They are processed ``batch_size`` at a time on ``device`` in float32.

    Args:
        net: the network (:meth:`from_file` loads the published weights; a bare :class:`FIDInceptionV3`
            has random weights: for tests only, its numbers mean nothing).
        device: where the network runs.
        batch_size: images per forward pass.
    """

    def __init__(
        self, net: FIDInceptionV3, *, device: str | torch.device = "cpu", batch_size: int = 50
    ) -> None:
        if batch_size < 1:
            raise SrkitError(f"inception: batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.batch_size = int(batch_size)
        self.weights_path: Path | None = None

    @classmethod
    def from_file(
        cls, path: str | Path | None = None, *, device: str | torch.device = "cpu", batch_size: int = 50
    ) -> InceptionFeatures:
        """The network with the published weights from ``path`` (``None``: :func:`default_weights_path`),
        read without unpickling code and loaded with strict key checking.

        Raises:
            SrkitError: one line: the file is missing (naming the path, the URL and the SHA-256), is not
                a checkpoint, or does not hold FID Inception-v3 weights (naming the key).
        """
        found = resolve_weights_path(path)
        raw, _ = read_checkpoint(found)
        net = FIDInceptionV3()
        net.load_state_dict(inception_state_dict(raw, found), strict=True)
        out = cls(net, device=device, batch_size=batch_size)
        out.weights_path = found
        return out

    def preprocess(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """One array or tensor (see the class docstring) -> the network input: ``(N, 3, 299, 299)``
        float32 in [-1, 1] on the network's device (bilinear, ``align_corners=False``, then ``2 x - 1``)."""
        return self._to_input(_as_nchw(images))

    def _to_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1

    def _inputs(self, images: ImageBatch) -> Iterator[torch.Tensor]:
        """The network inputs of ``images``, ``batch_size`` at a time (the last batch may be smaller)."""
        items = [images] if isinstance(images, (np.ndarray, torch.Tensor)) else list(images)
        pending: list[torch.Tensor] = []
        for item in items:
            x = _as_nchw(item)
            for i in range(0, x.shape[0], self.batch_size):
                pending.append(self._to_input(x[i : i + self.batch_size]))
                if sum(p.shape[0] for p in pending) >= self.batch_size:
                    ready = torch.cat(pending)
                    yield ready[: self.batch_size]
                    pending = [ready[self.batch_size :]] if ready.shape[0] > self.batch_size else []
        if pending:
            yield torch.cat(pending)

    def iter_extract(self, images: ImageBatch) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(features, logits)`` of each batch in turn (see :meth:`extract`), for streaming statistics
        (:class:`srkit.metrics.fid.FeatureStats`) without holding every feature in memory."""
        for x in self._inputs(images):
            with torch.inference_mode():
                pool3 = self.net(x)
                logits = self.net.classify(pool3)
            yield pool3.double().cpu().numpy(), logits.double().cpu().numpy()

    def extract(self, images: ImageBatch) -> tuple[np.ndarray, np.ndarray]:
        """``(features, logits)`` from one pass: ``(N, 2048)`` pool3 features and ``(N, 1008)`` logits
        without the fc bias (what :func:`srkit.metrics.fid.inception_score` expects), both float64
        (computed in float32)."""
        feats, logits = [], []
        for f, g in self.iter_extract(images):
            feats.append(f)
            logits.append(g)
        if not feats:
            return np.zeros((0, FEATURE_DIM)), np.zeros((0, NUM_CLASSES))
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, images: ImageBatch) -> np.ndarray:
        """``(N, 2048)`` float64 pool3 features (the FID features)."""
        return self.extract(images)[0]

    def logits(self, images: ImageBatch, *, bias: bool = False) -> np.ndarray:
        """``(N, 1008)`` float64 logits: without ``bias`` (the default) those of the Inception Score,
        ``pool3 @ W^T`` (the original TF IS code's and torch-fidelity's ``logits_unbiased``); with it
        the full ``fc`` output (the bias added in float64)."""
        logits = self.extract(images)[1]
        if bias:
            logits = logits + self.net.fc.bias.detach().double().cpu().numpy()
        return logits
