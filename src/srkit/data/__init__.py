"""Datasets: named SR benchmarks, folders of HR images, verified downloads.

``IMAGE_SUFFIXES`` is :data:`srkit.io.IMAGE_SUFFIXES` (one list of readable formats).
"""

from srkit.data.augment import AugmentConfig
from srkit.data.benchmarks import (
    BENCHMARKS,
    IMAGE_SUFFIXES,
    BenchmarkSpec,
    HRDataset,
    benchmark_names,
    find_benchmark,
    list_images,
    resolve_dataset,
)
from srkit.data.download import download_file, extract_archive, sha256_file
from srkit.data.sampler import (
    SampleKey,
    TrainBatchSampler,
    build_train_loader,
    make_group_assignment,
    seed_worker,
)
from srkit.data.train import GroupWeight, SRTrainDataset, ValDataset

__all__ = [
    "BENCHMARKS",
    "IMAGE_SUFFIXES",
    "AugmentConfig",
    "BenchmarkSpec",
    "GroupWeight",
    "HRDataset",
    "SRTrainDataset",
    "SampleKey",
    "TrainBatchSampler",
    "ValDataset",
    "benchmark_names",
    "build_train_loader",
    "download_file",
    "extract_archive",
    "find_benchmark",
    "list_images",
    "make_group_assignment",
    "resolve_dataset",
    "seed_worker",
    "sha256_file",
]
