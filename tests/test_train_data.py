"""Training data pipeline: SRTrainDataset, ValDataset, augmentations, sampler and loader."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from srkit.data.augment import AugmentConfig, augment_pair, coarse_dropout, dihedral, jpeg_compress
from srkit.data.sampler import (
    SampleKey,
    TrainBatchSampler,
    build_train_loader,
    epoch_permutation,
    make_group_assignment,
)
from srkit.data.train import (
    GroupWeight,
    SRTrainDataset,
    ValDataset,
    degrade_window,
    load_uint8,
    probe_image,
    to_rgb,
)
from srkit.degrade import GROUPS, get_group, mod_crop
from srkit.errors import ConfigError, DatasetError, PixelLimitError
from srkit.io import read_image

NO_AUG = AugmentConfig(hflip=False, vflip=False, transpose=False)


def _pixels(w: int, h: int, channels: int, seed: int) -> np.ndarray:
    """Smooth random content plus texture, uint8 (H, W, C)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, channels), dtype=np.uint8)
    smooth = np.stack(
        [
            np.asarray(PILImage.fromarray(coarse[:, :, c]).resize((w, h), PILImage.BICUBIC))
            for c in range(channels)
        ],
        axis=-1,
    ).astype(np.int16)
    noisy = smooth + rng.integers(-25, 26, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _save(path: Path, w: int, h: int, mode: str = "RGB", seed: int = 0) -> Path:
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    array = _pixels(w, h, channels, seed)
    PILImage.fromarray(array[:, :, 0] if channels == 1 else array, mode).save(path)
    return path


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    """Five HR images, sizes not multiples of 2/3/4, one gray and one RGBA."""
    folder = tmp_path / "hr"
    folder.mkdir()
    _save(folder / "a.png", 101, 83, seed=1)
    _save(folder / "b.png", 75, 90, seed=2)
    _save(folder / "c.png", 64, 64, seed=3)
    _save(folder / "d_gray.png", 70, 66, "L", seed=4)
    _save(folder / "e_rgba.png", 66, 77, "RGBA", seed=5)
    return folder


def _full_hr(path: Path, scale: int) -> torch.Tensor:
    return mod_crop(load_uint8(path), scale)


def _u8(x: torch.Tensor) -> torch.Tensor:
    """Float patch that is exactly uint8 / 255 -> uint8 (asserting it is)."""
    y = x * 255
    assert torch.equal(y, torch.round(y)), "patch values are not multiples of 1/255"
    return y.round().to(torch.uint8)


# -- shapes, exactness of the margin trick ----------------------------------------------------------------


def test_item_shapes_ranges_and_channels(hr_dir: Path) -> None:
    ds = SRTrainDataset([hr_dir], scale=2, patch_size=12, length=25)
    assert len(ds) == 25 and ds.num_images == 5 and ds.group_names == ["bicubic"]
    for i in range(len(ds)):
        item = ds[i]
        assert item["lr"].shape == (3, 12, 12) and item["hr"].shape == (3, 24, 24)
        assert item["lr"].dtype == torch.float32 and item["hr"].dtype == torch.float32
        for key in ("lr", "hr"):
            assert float(item[key].min()) >= 0.0 and float(item[key].max()) <= 1.0
            _u8(item[key])
        assert item["group"] == 0 and item["index"] == i
    gray = ds.hr_files.index(hr_dir / "d_gray.png")
    item = ds[gray]  # epoch 0: sample i uses image i
    assert ds.sample_location(gray).image == gray
    assert torch.equal(item["hr"][0], item["hr"][1]) and torch.equal(item["hr"][0], item["hr"][2])
    assert torch.equal(item["lr"][0], item["lr"][2])
    rgba = ds.hr_files.index(hr_dir / "e_rgba.png")
    assert ds[rgba]["hr"].shape[0] == 3


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_degrade_window_equals_window_of_full_degrade(hr_dir: Path, group: str, scale: int) -> None:
    g = get_group(group)
    hr = _full_hr(hr_dir / "a.png", scale)
    full = g.degrade(hr, scale)
    lh, lw = full.shape[-2:]
    p = 7
    tops = sorted({0, 1, 2, 3, 5, lh // 2, lh - p - 1, lh - p})
    lefts = sorted({0, 1, 4, lw // 3, lw - p - 2, lw - p})
    for top, left in itertools.product(tops, lefts):
        window = degrade_window(hr, g, scale, top, left, p, p)
        assert torch.equal(window, full[:, top : top + p, left : left + p]), (top, left)
    # without the margin the crop edges are treated as image borders and the LR changes
    if group not in ("nearest", "area"):
        bare = degrade_window(hr, g, scale, lh // 2, lw // 2, p, p, context=0)
        assert not torch.equal(bare, full[:, lh // 2 : lh // 2 + p, lw // 2 : lw // 2 + p])


@pytest.mark.parametrize("scale", [2, 3])
def test_patch_lr_equals_window_of_full_image_lr(hr_dir: Path, scale: int) -> None:
    groups = [GroupWeight(name) for name in sorted(GROUPS)]
    ds = SRTrainDataset(
        [hr_dir], scale=scale, patch_size=10, groups=groups, augment=NO_AUG, length=60, seed=3
    )
    full = {}
    seen_groups, edge_hits = set(), 0
    for i in range(len(ds)):
        loc = ds.sample_location(i)
        item = ds[i]
        assert item["group"] == loc.group
        key = (loc.image, loc.group)
        if key not in full:
            hr = _full_hr(ds.hr_files[loc.image], scale)
            full[key] = (to_rgb(hr), to_rgb(ds.groups[loc.group].degrade(hr, scale)))
        hr, lr = full[key]
        t, l = loc.top, loc.left
        assert torch.equal(_u8(item["lr"]), lr[:, t : t + 10, l : l + 10])
        assert torch.equal(_u8(item["hr"]), hr[:, t * scale : (t + 10) * scale, l * scale : (l + 10) * scale])
        seen_groups.add(loc.group)
        edge_hits += t < 4 or l < 4 or t + 10 > lr.shape[-2] - 4 or l + 10 > lr.shape[-1] - 4
    assert seen_groups == set(range(5))
    assert edge_hits > 0  # crops close to the image borders (clipped margins) were checked too


# -- determinism, epochs, groups --------------------------------------------------------------------------


def _items_equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


def test_determinism_seed_epoch_index(hr_dir: Path) -> None:
    kwargs = dict(scale=2, patch_size=12, groups=["bicubic", "nearest"], length=20, seed=7)
    a, b = SRTrainDataset([hr_dir], **kwargs), SRTrainDataset([hr_dir], **kwargs)
    for i in (0, 3, 19):
        assert _items_equal(a[i], b[i]) and _items_equal(a[i], a[i])
    assert not torch.equal(a[0]["hr"], a[5]["hr"])  # same image (5 images), different crop
    assert not torch.equal(a[0]["lr"], a[1]["lr"])
    a.set_epoch(3)
    assert _items_equal(a[4], b[SampleKey(4, 3)])
    assert not torch.equal(a[4]["hr"], b[SampleKey(4, 0)]["hr"])
    other_seed = SRTrainDataset([hr_dir], **{**kwargs, "seed": 8})
    assert not torch.equal(other_seed[SampleKey(4, 3)]["hr"], b[SampleKey(4, 3)]["hr"])
    # global RNG state plays no part
    torch.manual_seed(123)
    np.random.seed(123)
    first = b[SampleKey(2, 1)]
    torch.manual_seed(999)
    np.random.seed(999)
    assert _items_equal(first, b[SampleKey(2, 1)])


def test_virtual_epoch_cycles_all_images(hr_dir: Path) -> None:
    ds = SRTrainDataset([hr_dir], scale=2, patch_size=8, length=3)
    images = [ds.sample_location(SampleKey(i, e)).image for e in range(5) for i in range(3)]
    assert images == [i % 5 for i in range(15)]


def test_group_draws_follow_weights() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    weights = [1.0, 2.0, 3.0, 4.0]
    ids = make_group_assignment(weights, 40_000, seed=5, epoch=2)
    counts = np.bincount(ids, minlength=4)
    expected = 40_000 * np.asarray(weights) / 10
    assert scipy_stats.chisquare(counts, expected).pvalue > 1e-3
    assert np.all(np.abs(counts / 40_000 - np.asarray(weights) / 10) < 0.01)
    assert np.array_equal(ids, make_group_assignment(weights, 40_000, seed=5, epoch=2))
    assert not np.array_equal(ids, make_group_assignment(weights, 40_000, seed=5, epoch=3))
    zero = make_group_assignment([1.0, 0.0, 1.0], 1000, seed=0, epoch=0)
    assert 1 not in set(zero.tolist()) and {0, 2} <= set(zero.tolist())
    with pytest.raises(ConfigError, match="groups"):
        make_group_assignment([1.0, -1.0], 10, 0, 0)


def test_group_ids_are_carried_and_forced(hr_dir: Path) -> None:
    groups = [GroupWeight("bicubic", 1.0), GroupWeight("nearest", 3.0)]
    ds = SRTrainDataset([hr_dir], scale=2, patch_size=8, groups=groups, augment=NO_AUG, length=200, seed=1)
    assert ds.group_names == ["bicubic", "nearest"]
    expected = ds.group_assignment(0)
    got = [ds[i]["group"] for i in range(len(ds))]
    assert got == expected.tolist()
    assert 0.65 < np.mean(got) < 0.85  # weight 3/4 for nearest
    # a forced group changes only the LR, not the crop or the HR
    normal, forced = ds[SampleKey(0, 0)], ds[SampleKey(0, 0, 1 - int(expected[0]))]
    assert forced["group"] == 1 - expected[0]
    assert torch.equal(normal["hr"], forced["hr"]) and not torch.equal(normal["lr"], forced["lr"])
    loc = ds.sample_location(SampleKey(0, 0, 1))
    hr = _full_hr(ds.hr_files[loc.image], 2)
    lr = to_rgb(get_group("nearest").degrade(hr, 2))[:, loc.top : loc.top + 8, loc.left : loc.left + 8]
    assert torch.equal(_u8(ds[SampleKey(0, 0, 1)]["lr"]), lr)


# -- augmentations ----------------------------------------------------------------------------------------


DIHEDRAL = list(itertools.product([False, True], repeat=3))


def test_dihedral_transforms_are_the_eight_distinct_ones() -> None:
    x = torch.arange(12.0).reshape(1, 3, 4)
    y = torch.arange(9.0).reshape(1, 3, 3)
    outs = {tuple(dihedral(y, *t).flatten().tolist()) for t in DIHEDRAL}
    assert len(outs) == 8
    assert dihedral(x, False, False, True).shape == (1, 4, 3)
    rot90 = torch.rot90(y, 1, dims=(-2, -1))
    assert any(torch.equal(dihedral(y, *t), rot90) for t in DIHEDRAL)


def test_geometric_augment_keeps_lr_and_hr_consistent(hr_dir: Path) -> None:
    kwargs = dict(scale=2, patch_size=12, length=80, seed=11)
    plain = SRTrainDataset([hr_dir], augment=NO_AUG, **kwargs)
    aug = SRTrainDataset([hr_dir], **kwargs)
    used = set()
    for i in range(len(aug)):
        p, a = plain[i], aug[i]
        matches = [t for t in DIHEDRAL if torch.equal(dihedral(p["hr"], *t), a["hr"])]
        assert len(matches) == 1
        assert torch.equal(dihedral(p["lr"], *matches[0]), a["lr"])
        used.add(matches[0])
        # downscaling the augmented HR gives the augmented LR away from the patch border, exactly (bicubic x2
        # is mirror-symmetric). MATLAB resizes rows first and rounds after each pass, so for transforms that
        # transpose, downscale the transposed-back patch and transpose the result.
        inner = (slice(None), slice(3, -3), slice(3, -3))
        hr_u8 = _u8(a["hr"])
        if matches[0][2]:
            lr_u8 = get_group("bicubic").degrade(hr_u8.transpose(1, 2), 2).transpose(1, 2)
        else:
            lr_u8 = get_group("bicubic").degrade(hr_u8, 2)
        assert torch.equal(lr_u8[inner], _u8(a["lr"])[inner])
    assert len(used) == 8


def test_jpeg_and_dropout_touch_only_lr(hr_dir: Path) -> None:
    kwargs = dict(scale=2, patch_size=16, length=10, seed=2)
    plain = SRTrainDataset([hr_dir], augment=NO_AUG, **kwargs)
    jpeg = SRTrainDataset(
        [hr_dir], augment=AugmentConfig(False, False, False, jpeg=True, jpeg_prob=1.0), **kwargs
    )
    drop = SRTrainDataset(
        [hr_dir], augment=AugmentConfig(False, False, False, dropout=True, dropout_prob=1.0), **kwargs
    )
    for i in range(len(plain)):
        p, j, d = plain[i], jpeg[i], drop[i]
        assert torch.equal(p["hr"], j["hr"]) and torch.equal(p["hr"], d["hr"])
        assert not torch.equal(p["lr"], j["lr"])
        _u8(j["lr"])
        err = float((p["lr"] - j["lr"]).abs().mean())
        assert 0 < err < 0.1
        changed = (p["lr"] != d["lr"]).any(dim=0)
        assert changed.any() and torch.all(d["lr"][:, changed] == 0)
        assert changed.float().mean() < 0.5


def test_lr_only_augment_probabilities_and_fill() -> None:
    rng = np.random.default_rng(0)
    lr = torch.from_numpy(_pixels(16, 16, 3, 0)).permute(2, 0, 1).contiguous()
    hr = torch.zeros(3, 32, 32, dtype=torch.uint8)
    cfg = AugmentConfig(False, False, False, jpeg=True)  # default probability 0.25
    hits = sum(not torch.equal(augment_pair(lr, hr, cfg, rng)[0], lr.float() / 255) for _ in range(400))
    assert 70 <= hits <= 130
    low, high = jpeg_compress(lr, 30), jpeg_compress(lr, 95)
    assert (low.float() - lr.float()).abs().mean() > (high.float() - lr.float()).abs().mean()
    gray = jpeg_compress(lr[:1], 50)
    assert gray.shape == (1, 16, 16) and gray.dtype == torch.uint8
    x = lr.float() / 255
    mean_cfg = AugmentConfig(dropout=True, dropout_fill="mean", dropout_holes=(2, 2))
    out = coarse_dropout(x, np.random.default_rng(1), mean_cfg)
    changed = (out != x).any(dim=0)
    assert changed.any()
    assert torch.allclose(out[:, changed], x.mean(dim=(1, 2))[:, None].expand(-1, int(changed.sum())))
    assert AugmentConfig(jpeg_quality=[40, 60]).jpeg_quality == (40, 60)  # lists from YAML
    with pytest.raises(ConfigError, match=r"augment\.jpeg_quality"):
        AugmentConfig(jpeg_quality=(90, 20))
    with pytest.raises(ConfigError, match=r"augment\.dropout_fill"):
        AugmentConfig(dropout_fill="noise")


# -- paired mode, errors, cache ---------------------------------------------------------------------------


def test_paired_mode_matches_hr_only_bicubic(hr_dir: Path, tmp_path: Path) -> None:
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    for n, path in enumerate(sorted(hr_dir.iterdir())):
        lr = to_rgb(get_group("bicubic").degrade(_full_hr(path, 2), 2))
        name = f"{path.stem}x2.png" if n % 2 else f"{path.stem}.png"  # both namings
        PILImage.fromarray(lr.permute(1, 2, 0).numpy()).save(lr_dir / name)
    kwargs = dict(scale=2, patch_size=10, augment=NO_AUG, length=15, seed=4)
    paired = SRTrainDataset([hr_dir], lr_dirs=[lr_dir], **kwargs)
    hr_only = SRTrainDataset([hr_dir], **kwargs)
    assert paired.group_names == ["paired"] and len(paired.lr_files) == 5
    for i in range(len(paired)):
        a, b = paired[i], hr_only[i]
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"]) and a["group"] == 0
    (lr_dir / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"a\.png: no LR image"):
        SRTrainDataset([hr_dir], lr_dirs=[lr_dir], scale=2, patch_size=10)
    PILImage.new("RGB", (20, 20)).save(lr_dir / "a.png")
    bad = SRTrainDataset([hr_dir], lr_dirs=[lr_dir], scale=2, patch_size=10)
    with pytest.raises(DatasetError, match="LR image is 20x20"):
        bad[0]
    with pytest.raises(ConfigError, match="lr_dirs"):
        SRTrainDataset([hr_dir], lr_dirs=[lr_dir, lr_dir], scale=2, patch_size=10)
    with pytest.raises(ConfigError, match="groups"):
        SRTrainDataset([hr_dir], lr_dirs=[lr_dir], scale=2, patch_size=10, groups=["nearest"])


def test_paired_set5_matches_reference_lr(shared_data: Path) -> None:
    hr_dir, lr_dir = shared_data / "Set5", shared_data / "Set5_LR_bicubic" / "X2"
    kwargs = dict(scale=2, patch_size=24, augment=NO_AUG, length=10, seed=0)
    paired = SRTrainDataset([hr_dir], lr_dirs=[lr_dir], **kwargs)
    hr_only = SRTrainDataset([hr_dir], **kwargs)
    for i in range(len(paired)):
        a, b = paired[i], hr_only[i]
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])


def test_small_image_raises_naming_file(hr_dir: Path, tmp_path: Path) -> None:
    _save(hr_dir / "tiny.png", 30, 20)
    with pytest.raises(DatasetError, match=r"tiny\.png: image is 30x20, smaller than the 32x32 HR patch"):
        SRTrainDataset([hr_dir], scale=2, patch_size=16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        SRTrainDataset([tmp_path / "empty"], scale=2, patch_size=16)
    with pytest.raises(ConfigError, match="degradation"):
        SRTrainDataset([hr_dir], scale=2, patch_size=8, groups=["gaussian"])
    with pytest.raises(ConfigError, match="patch_size"):
        SRTrainDataset([hr_dir], scale=2, patch_size=0)


def test_oversized_image_is_refused_from_its_header_as_read_image_does(
    hr_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Header probing goes through srkit's pixel limit (the decompression-bomb guard), not bare Pillow."""
    monkeypatch.setenv("SRKIT_MAX_PIXELS", str(101 * 83 - 1))  # a.png is one pixel over the limit
    path = hr_dir / "a.png"
    with pytest.raises(PixelLimitError) as from_read:
        read_image(path)
    with pytest.raises(PixelLimitError) as from_probe:
        probe_image(path)
    assert str(from_probe.value) == str(from_read.value)
    assert "a.png: image is 101x83 = 8383 pixels, more than the limit of 8382" in str(from_probe.value)
    with pytest.raises(PixelLimitError, match=r"a\.png: image is 101x83"):
        SRTrainDataset([hr_dir], scale=2, patch_size=16)
    assert probe_image(hr_dir / "b.png") == (75, 90, 3)
    assert probe_image(hr_dir / "d_gray.png") == (70, 66, 1)
    (hr_dir / "junk.png").write_bytes(b"not an image")
    assert probe_image(hr_dir / "junk.png") is None  # unreadable headers are reported when decoded


def test_cache_on_off_equivalence(hr_dir: Path) -> None:
    kwargs = dict(scale=3, patch_size=8, length=12, seed=9)
    cached = SRTrainDataset([hr_dir], cache=True, **kwargs)
    uncached = SRTrainDataset([hr_dir], cache=False, **kwargs)
    for i in range(len(cached)):
        assert _items_equal(cached[i], uncached[i])
    assert len(cached._cache) == 5 and not uncached._cache
    assert all(t.dtype == torch.uint8 for t in cached._cache.values())
    assert cached._cache[(3, False)].shape == (1, 66, 70)  # gray stays one channel in the cache
    expected = 101 * 83 * 3 + 75 * 90 * 3 + 64 * 64 * 3 + 70 * 66 + 66 * 77 * 3
    assert cached.estimated_cache_bytes == expected
    assert SRTrainDataset([hr_dir], max_cache_bytes=expected, **kwargs).cache_enabled
    assert not SRTrainDataset([hr_dir], max_cache_bytes=expected - 1, **kwargs).cache_enabled
    fresh = SRTrainDataset([hr_dir], cache=True, **kwargs)
    fresh.preload()
    assert len(fresh._cache) == 5
    assert _items_equal(fresh[4], uncached[4])


# -- sampler and loader -----------------------------------------------------------------------------------


def test_rank_split_covers_without_overlap() -> None:
    for length, world in ((24, 4), (25, 3)):
        per_rank = [TrainBatchSampler(length, 2, seed=1, rank=r, world_size=world) for r in range(world)]
        assert len({s.steps_per_epoch for s in per_rank}) == 1
        for epoch in (0, 1):
            parts = [set(s.epoch_indices(epoch).tolist()) for s in per_rank]
            assert sum(len(p) for p in parts) == len(set().union(*parts))  # disjoint
            if length % (world * 2) == 0:
                assert set().union(*parts) == set(range(length))
        batches = list(itertools.islice(iter(per_rank[1]), per_rank[1].steps_per_epoch + 1))
        assert all(len(b) == 2 for b in batches)
        assert batches[-1][0].epoch == 1 and batches[0][0].epoch == 0
    perm = epoch_permutation(10, 0, 0)
    assert sorted(perm.tolist()) == list(range(10))
    with pytest.raises(ConfigError, match="rank"):
        TrainBatchSampler(10, 2, 0, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainBatchSampler(10, 6, 0, world_size=2)


def _take(loader, n: int) -> list[dict]:
    it = iter(loader)
    batches = list(itertools.islice(it, n))
    del it
    return batches


def _batches_equal(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(x[k], y[k]) for k in ("lr", "hr", "group", "index"))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_resumes_mid_epoch_exactly(hr_dir: Path, num_workers: int) -> None:
    ds = SRTrainDataset(
        [hr_dir], scale=2, patch_size=8, groups=["bicubic", "area"], length=20, seed=5, cache=True
    )
    full = _take(build_train_loader(ds, 4, num_workers, seed=3), 8)  # 5 steps per epoch: crosses an epoch
    assert full[0]["lr"].shape == (4, 3, 8, 8) and full[0]["group"].dtype == torch.int64
    assert sorted(torch.cat([b["index"] for b in full[:5]]).tolist()) == list(range(20))
    resumed = _take(build_train_loader(ds, 4, num_workers, seed=3, start_step=3), 5)
    assert _batches_equal(resumed, full[3:8])
    if num_workers:
        assert _batches_equal(full, _take(build_train_loader(ds, 4, 0, seed=3), 8))


def test_distributed_loader_split(hr_dir: Path) -> None:
    ds = SRTrainDataset([hr_dir], scale=2, patch_size=8, length=16, seed=0, cache=False)
    seen = []
    for rank in range(2):
        loader = build_train_loader(ds, 4, 0, seed=1, distributed=True, rank=rank, world_size=2)
        assert loader.batch_sampler.steps_per_epoch == 2
        seen.append(torch.cat([b["index"] for b in _take(loader, 2)]).tolist())
    assert not set(seen[0]) & set(seen[1]) and set(seen[0]) | set(seen[1]) == set(range(16))
    with pytest.raises(ConfigError, match="distributed"):
        build_train_loader(ds, 4, 0, seed=1, rank=1, world_size=2)


def test_loader_throughput(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    for i in range(10):
        _save(folder / f"{i}.png", 480, 320, seed=i)
    ds = SRTrainDataset([folder], scale=2, patch_size=48, length=10_000, seed=0)
    loader = build_train_loader(ds, 16, 2, seed=0)
    it = iter(loader)
    next(it)  # worker start-up
    steps = 40
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(it)
    elapsed = time.perf_counter() - start
    del it
    assert batch["lr"].shape == (16, 3, 48, 48) and batch["hr"].shape == (16, 3, 96, 96)
    print(f"\nloader throughput: {steps * 16 / elapsed:.0f} patches/s (48x48 LR, x2, 2 workers)")


# -- validation -------------------------------------------------------------------------------------------


def test_val_dataset_matches_eval_convention(hr_dir: Path) -> None:
    val = ValDataset(hr_dir, 3)
    assert len(val) == 5
    item = val[0]
    assert item["name"] == "a"
    hr = _full_hr(hr_dir / "a.png", 3)
    assert hr.shape == (3, 81, 99)
    assert torch.equal(_u8(item["hr"]), hr)
    assert torch.equal(_u8(item["lr"]), get_group("bicubic").degrade(hr, 3))
    gray = ValDataset([hr_dir / "d_gray.png"], 2, group="lanczos3")[0]
    assert gray["lr"].shape == (3, 33, 35) and torch.equal(gray["lr"][0], gray["lr"][1])
    crop = ValDataset(hr_dir, 3, center_crop=32)[0]  # 30x30 HR (multiple of 3), centred
    assert crop["hr"].shape == (3, 30, 30) and crop["lr"].shape == (3, 10, 10)
    top, left = (27 - 10) // 2, (33 - 10) // 2
    assert torch.equal(_u8(crop["hr"]), hr[:, top * 3 : top * 3 + 30, left * 3 : left * 3 + 30])
    assert torch.equal(_u8(crop["lr"]), _u8(item["lr"])[:, top : top + 10, left : left + 10])
    assert ValDataset(hr_dir, 2, center_crop=10_000)[1]["hr"].shape == (3, 90, 74)


def test_val_dataset_set5_matches_reference_lr(shared_data: Path) -> None:
    val = ValDataset(shared_data / "Set5", 2)
    for i in range(len(val)):
        item = val[i]
        ref = load_uint8(shared_data / "Set5_LR_bicubic" / "X2" / f"{item['name']}x2.png")
        assert torch.equal(_u8(item["lr"]), to_rgb(ref))
