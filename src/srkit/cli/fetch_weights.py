"""``srkit fetch-weights [NAME ...] [--allow-unverified] [--no-progress]``: download and verify the optional
third-party weight files a recipe or metric needs (VGG for the perceptual loss, LPIPS, the FID Inception)
into the srkit cache, where the loaders look (:mod:`srkit.io.weight_files`). Without a name, lists the
names, their files and whether they are in the cache. Importing this module is cheap; the catalogue is
read when the command runs.
"""

from __future__ import annotations

import argparse


def add_fetch_weights_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``srkit fetch-weights`` on the ``srkit`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "fetch-weights",
        help="download the optional weight files of the VGG loss, LPIPS and FID into the cache (verified)",
        description=(
            "Download the published weight files that the perceptual (VGG) loss, LPIPS and FID/IS need into "
            "the srkit cache ($SRKIT_CACHE, default ~/.cache/srkit), checking each file's size and SHA-256 "
            "before it takes its place. Files already in the cache are checked and kept (no download). "
            "$SRKIT_WEIGHTS_URL replaces the download host (a mirror laid out as the cache). Without a "
            "NAME, lists the names."
        ),
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="vgg19, vgg16, lpips-alex, lpips-vgg (linear layers and backbone), inception-fid",
    )
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="take a file for which no published sha256 is known",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_fetch_weights)


def _listing() -> str:
    """One line per name: its files, their place in the cache and whether they are there."""
    from srkit.io.weight_files import BUNDLES, bundle_files

    width = max(map(len, BUNDLES)) + 2
    lines = []
    for name in BUNDLES:
        files = ", ".join(
            f"{entry.cache_path} ({'in the cache' if entry.cache_path.is_file() else 'missing'})"
            for entry in bundle_files(name)
        )
        lines.append(f"{name:<{width}}{files}")
    return "\n".join(lines)


def _run_fetch_weights(args: argparse.Namespace) -> int:
    from srkit.io.weight_files import fetch  # the catalogue: read only when the command runs

    if not args.names:
        print(_listing())
        return 0
    paths = fetch(
        args.names, allow_unverified=args.allow_unverified, progress=False if args.no_progress else None
    )
    for path in paths:
        print(path)
    return 0
