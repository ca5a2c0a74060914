"""Generative SR metrics: the FID Inception-v3's layout and blocks (random weights), its input pipeline,
the Fréchet distance against independent computations, the rank rule, streaming statistics, the
Inception Score and SR3's consistency by hand, and loading the published weight layout safely."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srkit.degrade import get_group
from srkit.errors import SrkitError
from srkit.metrics import (
    FeatureStats,
    FIDInceptionV3,
    InceptionFeatures,
    consistency,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    inception_score,
    min_images,
)
from srkit.metrics import fid as fid_module
from srkit.metrics.inception import (
    FID_WEIGHTS_FILE,
    FID_WEIGHTS_SHA256,
    FID_WEIGHTS_URL,
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE_1,
    FIDInceptionE_2,
    InceptionB,
    InceptionD,
    inception_state_dict,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # conftest restores the count afterwards


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    """Random weights with a variance-preserving initialisation (PyTorch's default shrinks activations
    ~1e6-fold over 94 layers) and random BatchNorm statistics, so features are O(1) and not degenerate."""
    torch.manual_seed(0)
    model = FIDInceptionV3()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------

# From the public reference code (pytorch-fid's src/pytorch_fid/inception.py on torchvision's
# models/inception.py): the block list and channel counts, and torchvision's published parameter count.
TORCHVISION_INCEPTION_V3_PARAMS = 27_161_264  # 1000 classes, with AuxLogits (torchvision model card)
AUX_LOGITS_PARAMS = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
BASIC_CONVS = 5 + 3 * 7 + 4 + 4 * 10 + 6 + 2 * 9  # stem, A x3, B, C x4, D, E x2
PUBLISHED_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch_pool.conv.weight": (64, 288, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_4.conv.weight": (192, 192, 7, 1),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "Mixed_7c.branch_pool.bn.num_batches_tracked": (),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def test_state_dict_matches_the_published_layout(net: FIDInceptionV3) -> None:
    state = net.state_dict()
    # no AuxLogits head, and 1008 instead of 1000 classes
    params = TORCHVISION_INCEPTION_V3_PARAMS - AUX_LOGITS_PARAMS + 8 * 2048 + 8
    assert sum(p.numel() for p in net.parameters()) == params == 23_850_960
    assert len(state) == BASIC_CONVS * 6 + 2  # conv.weight + 5 BatchNorm tensors each, fc.weight, fc.bias
    for key, shape in PUBLISHED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    tops = {key.split(".")[0] for key in state}
    assert tops == {
        *("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"),
        *(f"Mixed_{b}" for b in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")),
        "fc",
    }
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == BASIC_CONVS and all(m.eps == 1e-3 for m in norms)
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))
    kinds = {name: type(getattr(net, name)) for name in ("Mixed_5b", "Mixed_6a", "Mixed_6e", "Mixed_7a")}
    assert kinds == {
        "Mixed_5b": FIDInceptionA,
        "Mixed_6a": InceptionB,
        "Mixed_6e": FIDInceptionC,
        "Mixed_7a": InceptionD,
    }
    assert type(net.Mixed_7b) is FIDInceptionE_1 and type(net.Mixed_7c) is FIDInceptionE_2
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def _pool_by_hand(x: np.ndarray, kind: str) -> np.ndarray:
    """3x3 stride-1 pooling with SAME padding over real pixels only, by loops."""
    _, h, w = x.shape
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            window = x[:, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: FIDInceptionA(4, pool_features=4), "avg"),
        (lambda: FIDInceptionC(192, channels_7x7=8), "avg"),
        (lambda: FIDInceptionE_1(192), "avg"),
        (lambda: FIDInceptionE_2(192), "max"),
    ],
    ids=["A", "C", "E_1", "E_2"],
)
def test_pool_branches_are_the_tensorflow_ones(make, kind: str) -> None:
    torch.manual_seed(1)
    block = make()
    block.eval()
    pool = block.branch_pool
    channels = pool.conv.in_channels
    with torch.no_grad():  # the pool branch's 1x1 conv becomes the identity
        pool.conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    x = torch.rand(1, channels, 5, 6, generator=torch.Generator().manual_seed(2)) + 0.1
    with torch.no_grad():
        got = block(x)[0, -channels:].numpy()
    expected = _pool_by_hand(x[0].numpy(), kind) / math.sqrt(1 + 1e-3)  # BatchNorm: mean 0, var 1
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if kind == "avg":  # torchvision's pooling (zeros counted at the border) would differ at the corners
        padded = F.avg_pool2d(x, 3, stride=1, padding=1)[0].numpy() / math.sqrt(1 + 1e-3)
        assert abs(padded[0, 0, 0] - got[0, 0, 0]) > 0.1 * got[0, 0, 0]


def test_reduction_blocks_max_pool_their_input() -> None:
    torch.manual_seed(3)
    x = torch.rand(1, 6, 9, 9)
    with torch.no_grad():
        b, d = InceptionB(6).eval()(x), InceptionD(6).eval()(x)
    assert b.shape == (1, 384 + 96 + 6, 4, 4) and d.shape == (1, 320 + 192 + 6, 4, 4)
    pooled = x[0].unfold(1, 3, 2).unfold(2, 3, 2).amax(dim=(-1, -2))
    torch.testing.assert_close(b[0, -6:], pooled)
    torch.testing.assert_close(d[0, -6:], pooled)


def test_features_and_logits_shapes_and_input_forms(net: FIDInceptionV3) -> None:
    extractor = InceptionFeatures(net, batch_size=2)
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)  # batches of 2 and 1
    feats, logits = extractor.extract(images)
    assert feats.shape == (3, 2048) and logits.shape == (3, 1008)
    assert feats.dtype == np.float64 and logits.dtype == np.float64
    assert np.isfinite(feats).all() and feats.std(axis=0).mean() > 1e-3  # not degenerate
    as_tensors = [torch.from_numpy(im).permute(2, 0, 1).double() / 255 for im in images]
    np.testing.assert_allclose(extractor.features(as_tensors), feats, rtol=1e-4, atol=1e-5)
    weight = net.fc.weight.double().numpy()
    np.testing.assert_allclose(logits, feats @ weight.T, rtol=1e-4, atol=1e-4)  # no bias (IS logits)
    with torch.no_grad():
        direct = net.classify(net(extractor.preprocess(images[:1])), bias=True).double().numpy()
    np.testing.assert_allclose(direct, logits[:1] + net.fc.bias.double().numpy(), rtol=1e-4, atol=1e-4)
    assert extractor.features([]).shape == (0, 2048)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Rows of weights of bilinear resizing with half-pixel centres (PyTorch ``align_corners=False``):
    source ``(i + 0.5) n_in / n_out - 0.5``, clamped at 0, between its floor and the next pixel."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(math.floor(src), n_in - 1)
        hi = min(lo + 1, n_in - 1)
        frac = src - lo
        m[i, lo] += 1 - frac
        m[i, hi] += frac
    return m


def test_preprocess_is_pytorch_fid_pipeline(net: FIDInceptionV3) -> None:
    extractor = InceptionFeatures(net)
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    x = extractor.preprocess(img)
    assert x.shape == (1, 3, 299, 299) and x.dtype == torch.float32
    rows, cols = _bilinear_matrix(7, 299), _bilinear_matrix(5, 299)
    for c in range(3):
        expected = 2 * (rows @ (img[:, :, c] / 255.0) @ cols.T) - 1
        np.testing.assert_allclose(x[0, c].numpy(), expected, atol=2e-6)
    big = rng.integers(0, 256, (299, 299, 3), dtype=np.uint8)
    same = extractor.preprocess(big)[0].numpy()
    np.testing.assert_allclose(same, 2 * (np.moveaxis(big, -1, 0).astype(np.float32) / 255) - 1, atol=1e-6)
    assert same.min() >= -1 and same.max() <= 1
    gray = img[:, :, 0]
    torch.testing.assert_close(extractor.preprocess(gray), extractor.preprocess(np.stack([gray] * 3, -1)))
    floats = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(extractor.preprocess(floats), x)
    with pytest.raises(SrkitError, match=r"float images must be in \[0, 1\]"):
        extractor.preprocess(floats * 255)
    with pytest.raises(SrkitError, match="channels"):
        extractor.preprocess(np.zeros((8, 8, 4), dtype=np.uint8))


# --------------------------------------------------------------------------------------------------
# Fréchet distance, FID
# --------------------------------------------------------------------------------------------------


def _spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.05 * np.eye(d)


def _trace_sqrt_by_eigh(s1: np.ndarray, s2: np.ndarray) -> float:
    """``tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2)`` (similar matrices), the latter symmetric:
    eigen-decompositions only, no general matrix square root."""
    w, v = np.linalg.eigh(s1)
    root = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root @ s2 @ root)
    return float(np.sqrt(np.clip(inner, 0, None)).sum())


def test_frechet_distance_against_an_eigendecomposition() -> None:
    rng = np.random.default_rng(6)
    d = 12
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _spd(d, rng), _spd(d, rng)
    expected = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * _trace_sqrt_by_eigh(s1, s2))
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(torch.from_numpy(mu1), s1, mu2, torch.from_numpy(s2)) == pytest.approx(got)
    # the diagonal-covariance formula (elementwise sqrt of S1 * S2) is a different number
    v1, v2 = np.diag(s1), np.diag(s2)  # what tr(S1 + S2 - 2 sqrt(S1 * S2)) keeps of the covariances
    diagonal = float(np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2)))
    assert abs(diagonal - got) > 0.05 * got


def test_frechet_distance_closed_form_for_diagonal_covariances() -> None:
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 0 + 4 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # ||dmu||^2 + sum (sqrt a - sqrt b)^2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_falls_back_to_eps_and_rejects_imaginary(monkeypatch) -> None:
    from scipy import linalg

    calls = []
    real = linalg.sqrtm

    def flaky(a: np.ndarray) -> np.ndarray:
        calls.append(a.copy())
        return np.full_like(a, np.nan) if len(calls) == 1 else real(a)

    s = np.diag([1.0, 2.0])
    monkeypatch.setattr(linalg, "sqrtm", flaky)
    value, regularized = fid_module._frechet(np.zeros(2), s, np.zeros(2), s, 1e-3)
    assert regularized and len(calls) == 2
    np.testing.assert_allclose(calls[1], (s + 1e-3 * np.eye(2)) @ (s + 1e-3 * np.eye(2)))
    assert value == pytest.approx(np.trace(s) * 2 - 2 * np.trace(s + 1e-3 * np.eye(2)))
    monkeypatch.setattr(linalg, "sqrtm", real)
    with pytest.raises(SrkitError, match="imaginary"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(SrkitError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_fid_of_identical_features_is_zero() -> None:
    rng = np.random.default_rng(7)
    f = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8))
    result = fid_from_features(f, f)
    assert abs(result.value) < 1e-9 and result.full_rank and not result.regularized
    assert result.label == "FID" and float(result) == result.value
    other = fid_from_features(f, f + 1.0)  # a shifted copy: ||dmu||^2 = 8
    assert other.value == pytest.approx(8.0, rel=1e-8)


def test_fid_refuses_rank_deficient_covariances() -> None:
    rng = np.random.default_rng(8)
    small = rng.normal(size=(100, 2048))
    with pytest.raises(SrkitError, match="not enough images for a full-rank covariance") as info:
        fid_from_features(small, small[::-1].copy())
    assert "100 < 2049" in str(info.value) and "\n" not in str(info.value)
    assert min_images() == 2049
    # the rule is dim + 1: 16 vectors of 16-d are refused, 17 accepted
    f16 = rng.normal(size=(17, 16))
    with pytest.raises(SrkitError, match="set 2 has 16 < 17"):
        fid_from_features(f16, f16[:16])
    assert fid_from_features(f16, f16[::-1].copy()).full_rank
    # the explicit opt-in returns a value labelled as not FID
    opt = fid_from_features(f16[:5], f16[5:10], allow_rank_deficient=True)
    assert not opt.full_rank and math.isfinite(opt.value)
    assert "rank-deficient" in opt.label and "not comparable" in str(opt)


def test_feature_stats_streaming_equals_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    f = rng.normal(size=(103, 6)) * 3 + 1e3  # a large offset: the pairwise update must stay accurate
    stats = FeatureStats(6)
    start = 0
    for size in (10, 1, 40, 0, 52):
        stats.update(f[start : start + size])
        start += size
    assert stats.count == 103
    np.testing.assert_allclose(stats.mean, f.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.cov, np.cov(f, rowvar=False), rtol=1e-9, atol=1e-9)
    merged = FeatureStats.from_features(f[:30]).merge(FeatureStats.from_features(f[30:]))
    np.testing.assert_allclose(merged.cov, stats.cov, rtol=1e-9, atol=1e-9)
    saved = stats.save(tmp_path / "stats.npz")
    back = FeatureStats.load(saved)
    assert back.count == 103
    np.testing.assert_allclose(back.cov, stats.cov, rtol=1e-12)
    assert fid_from_stats(back, stats).value == pytest.approx(0.0, abs=1e-8)
    np.savez(tmp_path / "pytorch_fid.npz", mu=stats.mean, sigma=stats.cov)  # pytorch-fid's keys only
    with pytest.raises(SrkitError, match="no image count"):
        FeatureStats.load(tmp_path / "pytorch_fid.npz")
    assert FeatureStats.load(tmp_path / "pytorch_fid.npz", count=103).full_rank
    with pytest.raises(SrkitError, match=r"expected an \(n, 6\) array"):
        stats.update(f[:, :5])


# --------------------------------------------------------------------------------------------------
# Inception Score
# --------------------------------------------------------------------------------------------------


def _is_by_hand(logits: np.ndarray, splits: int) -> tuple[float, float]:
    n = len(logits)
    scores = []
    for i in range(splits):
        rows = logits[i * n // splits : (i + 1) * n // splits]
        probs = [[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in rows]
        marginal = [sum(p[k] for p in probs) / len(probs) for k in range(len(probs[0]))]
        kls = [sum(p[k] * math.log(p[k] / marginal[k]) for k in range(len(p))) for p in probs]
        scores.append(math.exp(sum(kls) / len(kls)))
    mean = sum(scores) / splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


def test_inception_score_by_hand() -> None:
    assert inception_score(np.zeros((50, 1008))) == pytest.approx((1.0, 0.0), abs=1e-12)
    onehot = np.zeros((40, 1008))
    onehot[np.arange(40), np.arange(40) * 7] = 1000.0  # 40 distinct classes, 4 per split
    assert inception_score(onehot) == pytest.approx((4.0, 0.0), abs=1e-12)
    assert inception_score(onehot, shuffle=False) == pytest.approx((4.0, 0.0), abs=1e-12)
    assert inception_score(onehot, splits=4) == pytest.approx((10.0, 0.0), abs=1e-12)
    rng = np.random.default_rng(10)
    logits = rng.normal(size=(23, 7)) * 2
    assert inception_score(logits, 3, shuffle=False) == pytest.approx(_is_by_hand(logits, 3), rel=1e-12)
    permuted = logits[np.random.RandomState(2020).permutation(23)]  # torch-fidelity's shuffle
    shuffled = inception_score(logits, 3)
    assert shuffled == pytest.approx(_is_by_hand(permuted, 3), rel=1e-12)
    assert shuffled != pytest.approx(inception_score(logits, 3, shuffle=False), rel=1e-6)
    assert inception_score(torch.from_numpy(logits), 3) == pytest.approx(shuffled)
    with pytest.raises(SrkitError, match="cannot make 10 splits"):
        inception_score(logits[:9])


# --------------------------------------------------------------------------------------------------
# Consistency
# --------------------------------------------------------------------------------------------------


def test_consistency_by_hand() -> None:
    rng = np.random.default_rng(11)
    hr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    lr = get_group("bicubic").degrade(torch.from_numpy(hr).permute(2, 0, 1), 4).permute(1, 2, 0).numpy()
    assert consistency(hr, lr, 4) == 0.0  # the HR itself is exactly consistent with srkit eval's LR
    # constant images: bicubic weights sum to 1, so D(0.6) = 0.6 against LR 51/255 = 0.2
    assert consistency(np.full((16, 16, 3), 0.6), np.full((4, 4, 3), 51, np.uint8), 4) == pytest.approx(
        0.16, abs=1e-12
    )
    # the 'area' group downscales floats by block averaging: the MSE by hand
    sr = rng.random((8, 12, 3))
    low = rng.random((4, 6, 3))
    blocks = sr.reshape(4, 2, 6, 2, 3).mean(axis=(1, 3))
    expected = float(np.mean((blocks - low) ** 2))
    assert consistency(sr, low, 2, degradation="area") == pytest.approx(expected, rel=1e-12)
    batch_sr = torch.from_numpy(sr).permute(2, 0, 1)[None]
    batch_lr = torch.from_numpy(low).permute(2, 0, 1)[None]
    assert consistency(batch_sr, batch_lr, 2, degradation="area") == pytest.approx(expected, rel=1e-12)
    with pytest.raises(SrkitError, match="expected 8x4"):
        consistency(sr[:6], low[:2, :4], 2)
    with pytest.raises(SrkitError, match=r"must be in \[0, 1\]"):
        consistency(sr * 255, low, 2)


# --------------------------------------------------------------------------------------------------
# Weight files
# --------------------------------------------------------------------------------------------------


def test_weights_round_trip_through_a_pth_file(net: FIDInceptionV3, tmp_path: Path) -> None:
    path = tmp_path / FID_WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    loaded = InceptionFeatures.from_file(path)
    assert loaded.weights_path == path
    ours, theirs = net.state_dict(), loaded.net.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)

    broken = dict(net.state_dict())
    del broken["Mixed_6c.branch7x7dbl_3.bn.running_var"]
    torch.save(broken, path)
    with pytest.raises(SrkitError) as info:
        InceptionFeatures.from_file(path)
    message = str(info.value)
    assert "'Mixed_6c.branch7x7dbl_3.bn.running_var'" in message and str(path) in message
    assert "\n" not in message


def test_state_dict_checks(net: FIDInceptionV3) -> None:
    state = net.state_dict()
    old_style = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # older files
    filled = inception_state_dict(old_style)
    assert filled.keys() == state.keys()
    FIDInceptionV3().load_state_dict(filled, strict=True)
    with pytest.raises(SrkitError, match=r"unexpected key 'AuxLogits\.fc\.weight'"):
        inception_state_dict({**state, "AuxLogits.fc.weight": torch.zeros(1000, 768)})
    with pytest.raises(SrkitError, match=r"'fc.weight' has shape \(1000, 2048\), expected \(1008, 2048\)"):
        inception_state_dict({**state, "fc.weight": torch.zeros(1000, 2048)}, source="x.pth")


def test_missing_weight_file_names_path_url_and_sha(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(SrkitError) as info:
        InceptionFeatures.from_file(missing)
    message = str(info.value)
    assert str(missing) in message and FID_WEIGHTS_URL in message and FID_WEIGHTS_SHA256 in message
    assert "\n" not in message
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "weights" / FID_WEIGHTS_FILE
    with pytest.raises(SrkitError, match=re.escape(f"{expected}: FID Inception-v3 weights not found")):
        InceptionFeatures.from_file(None)
