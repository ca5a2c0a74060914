"""Inference-only rewrites of a network that make the runner's reduced-precision path faster without
changing what it computes.

Applied by :class:`srkit.archs.Runner` when it owns the network (``optimize=True``: ``srkit upscale``,
``srkit eval`` and the API load a network for it alone; training validation does not, since it runs the
live network). Each rewrite is exact: the tests compare every registered architecture's output with and
without them bit for bit (``tests/test_speed_passes.py``).

- :func:`reorder_pixel_shuffles`: a convolution followed by ``PixelShuffle(r)`` in an ``nn.Sequential``
  gets its output channels permuted once from PyTorch's order ``c * r^2 + i * r + j`` to
  ``(i * r + j) * C + c``, and the shuffle becomes :class:`ChannelsLastPixelShuffle`, which for a
  channels-last tensor moves contiguous blocks of ``r * C`` values instead of gathering single
  channels (PyTorch's channels-last pixel shuffle took 17 % of an EDSR-baseline bf16 call, issue 11).
- :func:`relu_out_of_place`: in-place ReLU/LeakyReLU on a bf16 tensor is slower than writing a new
  tensor (9 % of the same call); the modules are switched to ``inplace=False``.
- :func:`cast_matmul_weights`: convolution and linear weights are stored in bf16 once; under autocast
  these ops cast their weights to bf16 on every call (autocast's weight cache is emptied when the
  context exits), so the result is the same, bit for bit, minus the casts.

See ``docs/speed.md`` for what each is worth, measured with ``benchmarks/upscale_speed.py --passes``.

**fp32 islands** are not a rewrite but part of what reduced precision means for a network: the
submodules a network lists in ``fp32_modules`` (:class:`srkit.archs.contract.SRNet`) run with autocast
disabled on float32 inputs whenever a runner autocasts (:func:`fp32_islands`, entered by
:meth:`srkit.archs.Runner.autocast`, with or without ``optimize``), and :func:`cast_matmul_weights`
leaves their weights in float32. They are the layers that read or write the image itself (first convs,
SPAN's upsampler, LapSRN's image branch), which bf16 would round by up to half an 8-bit level
(docs/speed.md, issue 14). In fp32 nothing is wrapped.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from srkit.errors import ConfigError

__all__ = [
    "ChannelsLastPixelShuffle",
    "cast_matmul_weights",
    "compile_for_inference",
    "fp32_island_modules",
    "fp32_islands",
    "prepare_for_inference",
    "relu_out_of_place",
    "reorder_pixel_shuffles",
    "run_in_fp32",
    "shuffle_permutation",
    "wrap_island",
]

#: Modules whose weights :func:`cast_matmul_weights` stores in the autocast dtype: the ops autocast runs
#: in reduced precision anyway.
_MATMUL_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


def shuffle_permutation(channels: int, factor: int) -> torch.Tensor:
    """The output-channel order ``perm`` such that ``conv.weight[perm]`` lists the channels as
    ``(i, j, c)`` (sub-pixel row ``i``, column ``j``, then output channel ``c``) instead of PyTorch's
    ``PixelShuffle`` order ``(c, i, j)`` (Shi et al. 2016: ``out[c, h r + i, w r + j] =
    in[c r^2 + i r + j, h, w]``); ``channels`` is the shuffle's output channel count ``C``."""
    c = torch.arange(channels).view(1, 1, channels)
    i = torch.arange(factor).view(factor, 1, 1)
    j = torch.arange(factor).view(1, factor, 1)
    return (c * factor * factor + i * factor + j).reshape(-1)


class ChannelsLastPixelShuffle(nn.Module):
    """``PixelShuffle(factor)`` for input channels in ``(i, j, c)`` order (:func:`shuffle_permutation`).

    On a channels-last ``(N, r^2 C, H, W)`` tensor the data are ``(N, H, W, r, r, C)`` in memory, and the
    channels-last output ``(N, C, rH, rW)`` is ``(N, H, r, W, r, C)``: one copy of ``r C``-value blocks.
    Any memory format gives the right values; the output is channels-last.
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, h, w = x.shape
        r = self.factor
        c = ch // (r * r)
        nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, r, r, c)
        out = nhwc.permute(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, c)
        return out.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def reorder_pixel_shuffles(model: nn.Module) -> int:
    """Rewrite every ``Conv2d`` directly followed by ``PixelShuffle`` inside an ``nn.Sequential`` of
    ``model`` (in place; see the module docstring); returns how many pairs were rewritten. Shuffles
    fed by anything else (a conv stored as a separate attribute, a shuffle shared by two convs) are
    left alone."""
    count = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for first, second in itertools.pairwise(names):
            conv, shuffle = seq._modules[first], seq._modules[second]
            if not (isinstance(conv, nn.Conv2d) and type(shuffle) is nn.PixelShuffle):
                continue
            factor = shuffle.upscale_factor
            perm = shuffle_permutation(conv.out_channels // (factor * factor), factor).to(conv.weight.device)
            with torch.no_grad():
                conv.weight.copy_(conv.weight[perm])
                if conv.bias is not None:
                    conv.bias.copy_(conv.bias[perm])
            seq._modules[second] = ChannelsLastPixelShuffle(factor)
            count += 1
    return count


def relu_out_of_place(model: nn.Module) -> int:
    """Switch every in-place ``ReLU``/``LeakyReLU`` of ``model`` to out-of-place; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.ReLU | nn.LeakyReLU) and module.inplace:
            module.inplace = False
            count += 1
    return count


def cast_matmul_weights(model: nn.Module, dtype: torch.dtype, *, keep: Iterable[nn.Module] = ()) -> int:
    """Store the weights and biases of ``model``'s convolutions and linear layers in ``dtype`` (in
    place); returns how many modules. Only for running under autocast to the same ``dtype``. Modules
    inside ``keep`` (the fp32 islands) keep their float32 weights."""
    kept = {id(m) for root in keep for m in root.modules()}
    count = 0
    for module in model.modules():
        if isinstance(module, _MATMUL_MODULES) and id(module) not in kept:
            for param in module.parameters(recurse=False):
                param.data = param.data.to(dtype)
            count += 1
    return count


def prepare_for_inference(
    model: nn.Module, *, autocast_dtype: torch.dtype | None, channels_last: bool
) -> dict[str, int]:
    """Apply the rewrites that pay off for this precision and layout (in place): the shuffle reorder
    with channels-last, the other two when autocasting (the bf16 weights outside the network's fp32
    islands). Returns what was rewritten, by pass name."""
    done: dict[str, int] = {}
    if channels_last:
        done["pixel_shuffle_reorder"] = reorder_pixel_shuffles(model)
    if autocast_dtype is not None:
        done["relu_out_of_place"] = relu_out_of_place(model)
        if autocast_dtype == torch.bfloat16:
            keep = fp32_island_modules(model)
            done["bf16_weights"] = cast_matmul_weights(model, autocast_dtype, keep=keep)
    return done


def fp32_island_modules(model: nn.Module, names: Sequence[str] | None = None) -> list[nn.Module]:
    """The submodules ``names`` of ``model`` (default: its ``fp32_modules``, none for a network that
    lists none); a name that is not one of ``model.named_modules()`` is a :class:`ConfigError`."""
    if names is None:
        names = getattr(model, "fp32_modules", ())
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules or not name]
    if missing:
        raise ConfigError(
            f"{type(model).__name__}: fp32_modules {', '.join(map(repr, missing))} name no submodule"
        )
    return [modules[name] for name in names]


def _to_fp32(value: Any) -> Any:
    """Floating tensors (also inside tuples and lists) as float32; everything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_fp32(v) for v in value)
    return value


def run_in_fp32(forward: Callable[..., Any], device_type: str) -> Callable[..., Any]:
    """``forward`` with autocast off for ``device_type``, its floating tensor arguments cast to float32
    and its floating tensor results returned as float32. Without autocast (fp32 inputs, fp32 weights)
    it computes exactly what ``forward`` does."""

    @functools.wraps(forward)
    def island(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type=device_type, enabled=False):
            args = _to_fp32(args)
            kwargs = {k: _to_fp32(v) for k, v in kwargs.items()}
            return _to_fp32(forward(*args, **kwargs))

    island.__dict__["_srkit_fp32_island"] = True
    return island


def wrap_island(module: nn.Module, device_type: str) -> bool:
    """Make ``module`` an fp32 island: an instance ``forward`` that shadows the class's and runs it
    through :func:`run_in_fp32`. False when it already is one (a nested entry, or a runner that wrapped
    it for good); a :class:`ConfigError` when something else replaced its ``forward``."""
    if getattr(module.__dict__.get("forward"), "_srkit_fp32_island", False):
        return False
    if "forward" in module.__dict__:
        raise ConfigError(f"{type(module).__name__}: an fp32 island cannot wrap a replaced forward")
    module.__dict__["forward"] = run_in_fp32(module.forward, device_type)
    return True


@contextlib.contextmanager
def fp32_islands(modules: Iterable[nn.Module], device_type: str) -> Iterator[None]:
    """For the duration of the block, run each of ``modules`` through :func:`run_in_fp32` (an
    instance ``forward`` that shadows the class's; removed again on exit, so a network the caller does
    not own is left as it was). Nested entries on the same module wrap it once."""
    wrapped = []
    try:
        for module in modules:
            if wrap_island(module, device_type):
                wrapped.append(module)
        yield
    finally:
        for module in wrapped:
            del module.__dict__["forward"]


def compile_for_inference(model: nn.Module, islands: Iterable[nn.Module], device_type: str) -> nn.Module:
    """``torch.compile(model)`` for inference (inductor, ``freezing``: weights folded into the graph as
    constants and convolution weights pre-packed for oneDNN), after the other rewrites. The fp32
    ``islands`` are wrapped for good (:func:`wrap_island`), since the runner owns the network and a
    wrapper added around each call would make dynamo re-check the modules every time. Compilation
    happens on the first call of each input shape; inductor's on-disk cache (``$TORCHINDUCTOR_CACHE_DIR``)
    keeps the generated code between processes. Freezing is exact for inference only: the compiled
    module must not be trained."""
    for module in islands:
        wrap_island(module, device_type)
    # dynamic=False: one specialised graph per shape (tiles share one); freezing needs no_grad/inference
    return torch.compile(model, dynamic=False, options={"freezing": True})  # type: ignore[return-value]
