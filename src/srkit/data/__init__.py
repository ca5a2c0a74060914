"""Datasets: named SR benchmarks, folders of HR images, verified downloads.

Import-light: only the standard library and :mod:`srkit` itself are imported here (tqdm is imported
when a download starts).
"""

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

__all__ = [
    "BENCHMARKS",
    "IMAGE_SUFFIXES",
    "BenchmarkSpec",
    "HRDataset",
    "benchmark_names",
    "download_file",
    "extract_archive",
    "find_benchmark",
    "list_images",
    "resolve_dataset",
    "sha256_file",
]
