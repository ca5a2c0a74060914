"""The published ``transformerSR`` weights (e.g. ``transformerSR_b8_d256_w4_h16.pt``, a plain state dict)
-> srkit ``davit_sr``, in the two key layouts its code has used.

In both, each block of a pair is an ``AttentionBlock`` whose attention module is called
``window_attention`` in the window block (``.0``) *and* in the channel block (``.1``); its MLP is
``mlp.0`` (``dim -> 4 dim``) and ``mlp.2`` (``4 dim -> dim``) around a GELU, its norms ``norm1`` (before
the attention) and ``norm2`` (before the MLP). Every layer has a weight and a bias.

- **old** (``davit-sr-old``): ``in_conv``; ``blocks.{i}.{0,1}.window_attention.qkv`` (one linear
  ``dim -> 3 dim``, q, k, v stacked in that order, each split into heads) and
  ``blocks.{i}.{0,1}.window_attention.out``; ``blocks.{i}.{0,1}.mlp.{0,2}``,
  ``blocks.{i}.{0,1}.norm{1,2}``; ``out_conv.0`` (then ``out_conv.1``, the pixel shuffle), ``i`` from 0.
- **new** (``davit-sr-new``): one ``nn.Sequential`` ``layers``: ``layers.0`` (the first conv),
  ``layers.{i}.{0,1}.window_attention.project_{q,k,v,out}`` (separate ``dim -> dim`` linears),
  ``layers.{i}.{0,1}.mlp.{0,2}``, ``layers.{i}.{0,1}.norm{1,2}`` for ``i`` = 1 .. N, ``layers.{N+1}``
  (the last conv; ``layers.{N+2}`` is the pixel shuffle).

Inferred from shapes: ``dim`` (first conv's outputs), ``in_channels`` (its inputs), ``num_pairs`` (the
block indices), ``scale`` and ``out_channels`` (the last conv has ``out_channels * scale**2`` outputs:
``out_channels`` equals ``in_channels`` when that leaves a square factor, else the given scale decides).

Not in the shapes: ``num_heads`` and ``window_size``. They come, in this order, from a
:class:`DavitHints` given to the converter (``DavitHints(num_heads=8, window_size=8)``, see
:func:`convert_davit`), from the file name's ``_h<N>`` and ``_w<N>`` parts (``transformerSR_b8_d256_w4_h16``:
16 heads, window 4), else 16 heads and window 4 (the published model). A wrong head count loads
without error but computes something else. The published code scales attention the seed's way, so
``attn_scaling`` is ``'seed'``; the options are off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, check_run, indices, shape
from srkit.errors import SrkitError

OLD = "davit-sr-old"
NEW = "davit-sr-new"

#: The published model's values of what the shapes do not tell.
DEFAULT_HEADS = 16
DEFAULT_WINDOW = 4

_NAME_PART = re.compile(r"(?<![a-z0-9])([hw])(\d+)(?![a-z0-9])", re.IGNORECASE)
_PARAMS = ("weight", "bias")
_KINDS = ("spatial", "channel")


@dataclass(frozen=True)
class DavitHints(Hints):
    """:class:`~srkit.archs.layouts.Hints` plus what a ``transformerSR`` file's shapes do not tell.

    Attributes:
        num_heads: attention heads (default: the file name's ``_h<N>``, else 16).
        window_size: attention window side (default: the file name's ``_w<N>``, else 4).
    """

    num_heads: int | None = None
    window_size: int | None = None


def name_hints(source: str) -> dict[str, int]:
    """``{'h': heads, 'w': window}`` from a file name such as ``transformerSR_b8_d256_w4_h16.pt``
    (either may be missing; a part that appears twice with different values is ignored)."""
    found: dict[str, set[int]] = {}
    for key, value in _NAME_PART.findall(Path(source).name):
        found.setdefault(key.lower(), set()).add(int(value))
    return {key: values.pop() for key, values in found.items() if len(values) == 1}


def _heads_and_window(hints: Hints, dim: int, layout: str) -> tuple[int, int]:
    named = name_hints(hints.source)
    given = hints if isinstance(hints, DavitHints) else DavitHints()
    heads = given.num_heads or named.get("h", DEFAULT_HEADS)
    window = given.window_size or named.get("w", DEFAULT_WINDOW)
    if heads < 1 or dim % heads:
        raise hints.error(
            layout, f"{dim} channels do not split into {heads} heads; give the head count (DavitHints)"
        )
    if window < 1:
        raise hints.error(layout, f"window size {window} must be positive")
    return heads, window


def _hparams(
    state: StateDict, hints: Hints, layout: str, first: str, last: str, pairs: int
) -> dict[str, Any]:
    """The hyper-parameters from the first and last convs' shapes, the pair count and the hints."""
    dim, in_channels, *kernel = shape(state, first, hints, layout)
    if kernel != [3, 3]:
        raise hints.error(layout, f"{first} is {kernel}, expected a 3x3 conv")
    outs, last_in, *_ = shape(state, last, hints, layout)
    if last_in != dim:
        raise hints.error(layout, f"{last} takes {last_in} channels, the first conv gives {dim}")
    ratio, rest = divmod(outs, in_channels)
    scale = round(ratio**0.5)
    out_channels = in_channels
    if rest or scale * scale != ratio:  # not in_channels x a square: the outputs differ from the inputs
        scale = hints.any_scale or 0
        if not scale or outs % (scale * scale):
            raise hints.error(
                layout, f"{last} has {outs} outputs: not {in_channels} x a square scale (give the scale)"
            )
        out_channels = outs // (scale * scale)
    scale = hints.check_scale(layout, scale, f"{outs} outputs of the last conv")
    heads, window = _heads_and_window(hints, dim, layout)
    return {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "dim": dim,
        "num_pairs": pairs,
        "num_heads": heads,
        "window_size": window,
        "attn_scaling": "seed",
    }


def _check_mlp(state: StateDict, hints: Hints, layout: str, prefix: str, dim: int) -> None:
    """The MLP of one block must be ``dim -> 4 dim -> dim`` (srkit's ratio)."""
    hidden = shape(state, f"{prefix}.mlp.0.weight", hints, layout)
    if hidden != (4 * dim, dim):
        raise hints.error(layout, f"{prefix}.mlp.0 is {hidden}, expected ({4 * dim}, {dim})")


#: srkit key -> the source keys it is made of (several: concatenated along the first dimension).
Plan = dict[str, tuple[str, ...]]


def _plan(first: str, last: str, blocks: list[str], qkv: tuple[str, ...], proj: str) -> Plan:
    """The key plan of a layout: ``blocks`` are the source prefixes of the blocks in srkit order
    (window, channel, window, ...); ``qkv`` and ``proj`` name the attention layers under a block."""
    plan: Plan = {}
    for p in _PARAMS:
        plan[f"in_conv.{p}"] = (f"{first}.{p}",)
        plan[f"out_conv.{p}"] = (f"{last}.{p}",)
    for index, src in enumerate(blocks):
        dst = f"pairs.{index // 2}.{_KINDS[index % 2]}"
        for p in _PARAMS:
            for part in ("norm1", "norm2", "mlp.0", "mlp.2"):
                plan[f"{dst}.{part}.{p}"] = (f"{src}.{part}.{p}",)
            plan[f"{dst}.attn.qkv.{p}"] = tuple(f"{src}.window_attention.{name}.{p}" for name in qkv)
            plan[f"{dst}.attn.proj.{p}"] = (f"{src}.window_attention.{proj}.{p}",)
    return plan


def _apply(state: StateDict, plan: Plan, hints: Hints, layout: str) -> dict[str, torch.Tensor]:
    """The srkit state dict of ``plan``; a one-line error for a missing or an unexpected key."""
    out = {}
    for dst, sources in plan.items():
        missing = [key for key in sources if key not in state]
        if missing:
            raise hints.error(layout, f"missing key {missing[0]!r}")
        tensors = [state[key] for key in sources]
        out[dst] = tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)
    used = {key for sources in plan.values() for key in sources}
    extra = [key for key in state if key not in used]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise hints.error(layout, f"unexpected key {extra[0]!r}{more}")
    return out


def convert_old(state: StateDict, hints: Hints) -> Converted:
    """``in_conv``, ``blocks.{i}.{0,1}.window_attention.{qkv,out}``, ``out_conv.0`` -> srkit keys."""
    layout = OLD
    pairs = check_run(hints, layout, indices(state, r"blocks\.(\d+)\.0\.norm1\.weight"), 0, "blocks")
    hparams = _hparams(state, hints, layout, "in_conv.weight", "out_conv.0.weight", pairs)
    blocks = [f"blocks.{i}.{j}" for i in range(pairs) for j in "01"]
    for prefix in blocks:
        _check_mlp(state, hints, layout, prefix, hparams["dim"])
    plan = _plan("in_conv", "out_conv.0", blocks, ("qkv",), "out")
    return "davit_sr", hparams, _apply(state, plan, hints, layout)


def convert_new(state: StateDict, hints: Hints) -> Converted:
    """``layers.0``, ``layers.{i}.{0,1}.window_attention.project_{q,k,v,out}`` (``i`` = 1 .. N),
    ``layers.{N+1}`` -> srkit keys."""
    layout = NEW
    found = indices(state, r"layers\.(\d+)\.0\.norm1\.weight")
    pairs = check_run(hints, layout, found, 1, "attention pairs")
    last = f"layers.{pairs + 1}"
    hparams = _hparams(state, hints, layout, "layers.0.weight", f"{last}.weight", pairs)
    blocks = [f"layers.{i}.{j}" for i in range(1, pairs + 1) for j in "01"]
    for prefix in blocks:
        _check_mlp(state, hints, layout, prefix, hparams["dim"])
    plan = _plan("layers.0", last, blocks, ("project_q", "project_k", "project_v"), "project_out")
    return "davit_sr", hparams, _apply(state, plan, hints, layout)


FORMATS = (
    CheckpointFormat(
        OLD,
        "transformerSR (davit_sr), old layout (in_conv, blocks.N.{0,1}.window_attention.qkv/out, out_conv.0)",
        (
            "in_conv.weight",
            "blocks.0.0.window_attention.qkv.weight",
            "blocks.0.1.window_attention.out.weight",
            "out_conv.0.weight",
        ),
        convert_old,
    ),
    CheckpointFormat(
        NEW,
        "transformerSR (davit_sr), new layout (layers.0, layers.N.{0,1}.window_attention.project_q/k/v/out)",
        (
            "layers.0.weight",
            "layers.1.0.window_attention.project_q.weight",
            "layers.1.1.window_attention.project_out.weight",
        ),
        convert_new,
    ),
)


def convert_davit(
    state: StateDict,
    *,
    source: str = "state dict",
    scale: int | None = None,
    num_heads: int | None = None,
    window_size: int | None = None,
) -> Converted:
    """Convert a ``transformerSR`` state dict of either layout with the head count and window size
    given (``None``: from ``source``'s file name, else 16 and 4).

    Raises:
        SrkitError: one line naming ``source``: neither layout, or a layout that does not hold together.
    """
    hints = DavitHints(source=source, scale=scale, num_heads=num_heads, window_size=window_size)
    for fmt in FORMATS:
        if fmt.matches(state):
            return fmt.convert(state, hints)
    raise SrkitError(f"{source}: not a transformerSR state dict (neither {OLD} nor {NEW} keys)")
