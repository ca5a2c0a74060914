"""What every third-party checkpoint layout provides, and the helpers their converters share.

A layout is recognised by a few signature keys and converted by renaming keys (by name and index
patterns, never by the position of a tensor in the file) and reading hyper-parameters off tensor shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from srkit.errors import SrkitError

StateDict = Mapping[str, torch.Tensor]
#: ``(srkit arch name, constructor hyper-parameters, state dict with srkit's keys)``.
Converted = tuple[str, dict[str, Any], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Hints:
    """What a converter may know besides the tensors.

    Attributes:
        source: the file (or another name) that errors mention.
        scale: the factor the user gave (``--scale``); a converter whose weights imply another factor
            refuses it.
        name_scale: the factor the file name suggests (``fsrcnn_x3.pth``); used only where the weights
            do not decide it.
    """

    source: str = "state dict"
    scale: int | None = None
    name_scale: int | None = None

    @property
    def any_scale(self) -> int | None:
        """The user's scale, else the file name's."""
        return self.scale if self.scale is not None else self.name_scale

    def error(self, layout: str, message: str) -> SrkitError:
        """A one-line error naming the source and the layout."""
        return SrkitError(f"{self.source}: {layout}: {message}")

    def check_scale(self, layout: str, scale: int, how: str) -> int:
        """``scale`` (read off the weights, as ``how`` says), unless the user asked for another one."""
        if self.scale is not None and self.scale != scale:
            raise self.error(layout, f"the weights are x{scale} ({how}), not x{self.scale} as asked")
        return scale


@dataclass(frozen=True)
class CheckpointFormat:
    """One known third-party layout.

    Attributes:
        name: short identifier, stored as ``source_format`` in converted files.
        description: what the layout is and where it comes from, for messages and ``--help``.
        signature: keys whose presence identifies the layout.
        convert: ``(state, hints) -> (arch, hparams, srkit_state_dict)``.
    """

    name: str
    description: str
    signature: tuple[str, ...]
    convert: Callable[[StateDict, Hints], Converted]

    def matches(self, state: StateDict) -> bool:
        """Whether every signature key is in ``state``."""
        return all(key in state for key in self.signature)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def indices(state: StateDict, pattern: str) -> list[int]:
    """The distinct integers captured by group 1 of ``pattern`` (a full-key regex), sorted."""
    regex = re.compile(pattern)
    found = {int(m.group(1)) for key in state if (m := regex.fullmatch(key))}
    return sorted(found)


def check_run(hints: Hints, layout: str, found: Sequence[int], start: int, what: str) -> int:
    """``len(found)``, after checking that ``found`` is ``start, start + 1, ...`` without gaps."""
    if list(found) != list(range(start, start + len(found))):
        raise hints.error(layout, f"{what} are numbered {list(found)}, expected consecutive from {start}")
    return len(found)


def shape(state: StateDict, key: str, hints: Hints, layout: str) -> tuple[int, ...]:
    """The shape of ``state[key]``; a one-line error when the key is missing."""
    if key not in state:
        raise hints.error(layout, f"missing key {key!r}")
    return tuple(state[key].shape)


def rename(state: StateDict, rules: Iterable[tuple[str, str]], drop: Iterable[str] = ()) -> dict[str, Any]:
    """``state`` with each key renamed by the first matching ``(regex, replacement)`` rule (full match,
    ``re.sub`` replacement syntax); keys matching a ``drop`` regex are left out, other keys are kept
    as they are (and then show up as unexpected keys when the network is built)."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    dropped = [re.compile(pattern) for pattern in drop]
    out: dict[str, Any] = {}
    for key, value in state.items():
        if any(d.fullmatch(key) for d in dropped):
            continue
        for regex, repl in compiled:
            if regex.fullmatch(key):
                key = regex.sub(repl, key)
                break
        out[key] = value
    return out


def subpixel_factors(
    hints: Hints, layout: str, out_channels: Sequence[int], num_feat: int, what: str
) -> list[int]:
    """Per-stage factors of sub-pixel upsampling convs (conv to ``f * f * num_feat`` channels, then
    ``PixelShuffle(f)``) from their output channels: x2 stages, or one x3 stage."""
    factors = []
    for out in out_channels:
        ratio, rest = divmod(out, num_feat)
        root = round(ratio**0.5)
        if rest or root * root != ratio or root not in (2, 3):
            raise hints.error(
                layout,
                f"{what} has {out} output channels for {num_feat} features; expected 4x (x2) or 9x (x3)",
            )
        factors.append(root)
    if 3 in factors and len(factors) > 1:
        raise hints.error(layout, f"{what}: a x3 stage must be the only one, got factors {factors}")
    return factors
