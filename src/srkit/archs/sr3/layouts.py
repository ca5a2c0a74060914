"""The seed re-implementation's checkpoints (novwaul/SR3, ``UNet/model.py`` and ``diffusion.py``) -> srkit
``sr3``.

Two layouts:

- ``sr3-novwaul``: the state of its ``GaussianDiffusion`` wrapper (what its training state stores under
  ``net``/``ema_net``): the U-Net under ``model.`` plus the schedule buffers ``alphas_bar`` (training,
  length ``T``) and ``sample_alphas_bar`` (sampling, length ``N``), from which ``train_timesteps``,
  ``train_beta_start/end``, ``sample_steps`` and ``sample_betas`` are read back (``beta_1 = 1 -
  alpha_bar_1``, ``beta_T = 1 - alpha_bar_T / alpha_bar_{T-1}``);
- ``sr3-novwaul-unet``: the bare U-Net; the schedules are then its code's (``main.py``: ``T = 2000``,
  betas 1e-4 .. 0.005; sampling 1e-4 .. 0.1 over 100 steps).

Key map (seed -> srkit): ``emb.linear{1,2}.linear`` -> ``noise_embed.linear{1,2}``; ``conv1.conv`` ->
``conv_in``; in each residual block ``gn1/gn2.group_norm`` -> ``norm1/norm2``, ``conv1/conv2.conv`` ->
``conv1/conv2``, ``linear1.linear`` -> ``emb_proj``, ``linear2.linear`` (the channel-changing skip, a
linear layer over channels) -> ``skip`` (a 1x1 conv: weight reshaped to ``(out, in, 1, 1)``),
``att.gn.group_norm`` / ``att.qkv.linear`` / ``att.proj.linear`` -> ``attn.norm`` / ``attn.qkv`` /
``attn.proj`` (1x1 convs); ``down.N.conv.conv`` / ``up.N.conv.conv`` -> ``down.N.conv`` / ``up.N.conv``;
``gn.group_norm`` -> ``norm_out``; the top-level ``conv2.conv`` -> ``conv_out``. The sinusoid's
frequency table ``emb.x`` gives ``emb_base = 1 / x[-1]`` (5000) and is dropped (srkit computes it).

Hyper-parameters from the shapes: ``base_channels`` and ``in_channels`` from ``conv1``, ``emb_mult`` from
``emb.linear1``, the depths and ``num_res_blocks`` from the order of residual blocks and stride-2 convs
in ``down``, ``channel_mults`` from each depth's block width, ``attn_depths`` and ``mid_attn`` from where
``att.*`` keys are. The seed trains x4 only (``scale`` 4), with ``emb_scale`` 1 (``sqrt(gamma)`` fed
unscaled) and no dropout. Its code reads the conditioning from PyTorch's bicubic upsampling; srkit's
runner upsamples with MATLAB-style bicubic (the two differ near the borders).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from srkit.archs.layouts import CheckpointFormat, Converted, Hints, StateDict, rename, shape

SEED = "sr3-novwaul"
SEED_UNET = "sr3-novwaul-unet"

#: The seed code's schedules (main.py, diffusion.py) for a bare U-Net file.
SEED_SCHEDULE: dict[str, Any] = {
    "train_beta_start": 1e-4,
    "train_beta_end": 0.005,
    "train_timesteps": 2000,
    "sample_steps": 100,
    "sample_betas": [1e-4, 0.1],
}

_BLOCK = r"((?:down|up|mid)\.\d+)"
_RULES = (
    (r"emb\.linear([12])\.linear\.(weight|bias)", r"noise_embed.linear\1.\2"),
    (r"conv1\.conv\.(weight|bias)", r"conv_in.\1"),
    (r"gn\.group_norm\.(weight|bias)", r"norm_out.\1"),
    (r"conv2\.conv\.(weight|bias)", r"conv_out.\1"),
    (_BLOCK + r"\.gn([12])\.group_norm\.(weight|bias)", r"\1.norm\2.\3"),
    (_BLOCK + r"\.conv([12])\.conv\.(weight|bias)", r"\1.conv\2.\3"),
    (_BLOCK + r"\.linear1\.linear\.(weight|bias)", r"\1.emb_proj.\2"),
    (_BLOCK + r"\.linear2\.linear\.(weight|bias)", r"\1.skip.\2"),
    (_BLOCK + r"\.att\.gn\.group_norm\.(weight|bias)", r"\1.attn.norm.\2"),
    (_BLOCK + r"\.att\.(qkv|proj)\.linear\.(weight|bias)", r"\1.attn.\2.\3"),
    (r"((?:down|up)\.\d+)\.conv\.conv\.(weight|bias)", r"\1.conv.\2"),
)
#: srkit keys whose seed tensor is a linear layer over channels (reshaped to a 1x1 conv).
_POINTWISE = re.compile(r".*\.(skip|attn\.qkv|attn\.proj)\.weight")


def _betas(bars: torch.Tensor) -> tuple[float, float, int]:
    """``(beta_1, beta_N, N)`` of linear betas from their cumulative products ``alpha_bar_1..N``.

    The seed stores float32 products (``torch.cumprod(1 - torch.linspace(beta_1, beta_N, N))``), whose
    single betas carry errors of about 1e-7: a least-squares line through ``beta_t = 1 - alpha_bar_t /
    alpha_bar_{t-1}`` gives the ends, and the shortest decimal rounding of them (1 to 6 significant digits)
    that rebuilds the stored products exactly is taken; 4 digits of the fit otherwise."""
    bars = bars.reshape(-1)
    n = int(bars.numel())
    exact = bars.double()
    betas = 1.0 - exact / torch.cat([torch.ones(1, dtype=torch.float64), exact[:-1]])
    t = torch.arange(n, dtype=torch.float64)
    spread = float(((t - t.mean()) ** 2).sum())
    slope = float(((t - t.mean()) * (betas - betas.mean())).sum()) / spread if n > 1 else 0.0
    first = float(betas.mean()) - slope * float(t.mean())
    last = first + slope * (n - 1)
    for digits in range(1, 7):
        a, b = float(f"{first:.{digits}g}"), float(f"{last:.{digits}g}")
        if 0 < a < 1 and 0 < b < 1:
            rebuilt = torch.cumprod(1.0 - torch.linspace(a, b, n, dtype=bars.dtype), dim=0)
            if torch.equal(rebuilt, bars):
                return a, b, n
    return float(f"{first:.4g}"), float(f"{last:.4g}"), n


def _structure(state: StateDict, hints: Hints, layout: str, base: int) -> dict[str, Any]:
    """``channel_mults``, ``num_res_blocks``, ``attn_depths``, ``mid_attn`` from the down/mid keys."""
    down = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"down\.(\d+)\..*", k))})
    if down != list(range(len(down))) or not down:
        raise hints.error(layout, f"down blocks are numbered {down}, expected consecutive from 0")
    depths: list[list[int]] = [[]]
    for i in down:
        if f"down.{i}.conv.conv.weight" in state:  # a stride-2 conv closes the depth
            depths.append([])
        else:
            depths[-1].append(i)
    counts = {len(blocks) for blocks in depths}
    if len(counts) != 1 or 0 in counts:
        raise hints.error(layout, f"depths hold {[len(b) for b in depths]} residual blocks; expected equal")
    mults, attn = [], []
    for d, blocks in enumerate(depths):
        width = shape(state, f"down.{blocks[0]}.conv1.conv.weight", hints, layout)[0]
        if width % base:
            raise hints.error(layout, f"depth {d} has {width} channels, not a multiple of {base}")
        mults.append(width // base)
        if any(f"down.{i}.att.qkv.linear.weight" in state for i in blocks):
            attn.append(d)
    if "mid.1.att.qkv.linear.weight" in state:
        raise hints.error(layout, "attention in the second middle block is not part of this layout")
    return {
        "channel_mults": mults,
        "num_res_blocks": counts.pop(),
        "attn_depths": attn,
        "mid_attn": "mid.0.att.qkv.linear.weight" in state,
    }


def _convert(unet: StateDict, hints: Hints, layout: str, schedule: dict[str, Any]) -> Converted:
    base, cin = shape(unet, "conv1.conv.weight", hints, layout)[:2]
    emb_out = shape(unet, "emb.linear1.linear.weight", hints, layout)[0]
    if cin % 2 or emb_out % base:
        raise hints.error(layout, f"conv1 takes {cin} channels and the embedding is {emb_out} wide")
    freqs = unet.get("emb.x")
    last = float(freqs.reshape(-1)[-1]) if freqs is not None and freqs.numel() > 1 else 0.0
    emb_base = float(f"{1.0 / last:.6g}") if last > 0 else 5000.0  # a float32 table: 6 digits
    hparams: dict[str, Any] = {
        "in_channels": cin // 2,
        "scale": hints.check_scale(layout, 4, "the seed trains x4 only"),
        "base_channels": base,
        **_structure(unet, hints, layout, base),
        "attn_heads": 1,
        "num_groups": 8,
        "dropout": 0.0,
        "emb_mult": emb_out // base,
        "emb_base": emb_base,
        "emb_scale": 1.0,
        "res_init_gain": 1e-5,
        "input_order": "noisy_cond",
        **schedule,
        "sampler": "sr3",
    }
    renamed = rename(unet, _RULES, drop=[r"emb\.x"])
    out = {
        k: v.reshape(*v.shape, 1, 1) if _POINTWISE.fullmatch(k) and v.dim() == 2 else v
        for k, v in renamed.items()
    }
    return "sr3", hparams, out


def convert_seed(state: StateDict, hints: Hints) -> Converted:
    """``sr3-novwaul``: the ``GaussianDiffusion`` state, schedules read from its buffers."""
    unet = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    start, end, steps = _betas(state["alphas_bar"])
    s_start, s_end, s_steps = (
        _betas(state["sample_alphas_bar"]) if "sample_alphas_bar" in state else (1e-4, 0.1, 100)
    )
    schedule = {
        "train_beta_start": start,
        "train_beta_end": end,
        "train_timesteps": steps,
        "sample_steps": s_steps,
        "sample_betas": [s_start, s_end],
    }
    return _convert(unet, hints, SEED, schedule)


def convert_seed_unet(state: StateDict, hints: Hints) -> Converted:
    """``sr3-novwaul-unet``: the bare U-Net, with the seed code's schedules."""
    return _convert(state, hints, SEED_UNET, dict(SEED_SCHEDULE))


FORMATS = (
    CheckpointFormat(
        SEED,
        "SR3, novwaul/SR3 GaussianDiffusion state (model.emb, model.conv1, alphas_bar)",
        ("model.emb.linear1.linear.weight", "model.conv1.conv.weight", "alphas_bar"),
        convert_seed,
    ),
    CheckpointFormat(
        SEED_UNET,
        "SR3, novwaul/SR3 bare UNet (emb.linear1.linear, conv1.conv, down.0.gn1.group_norm)",
        ("emb.linear1.linear.weight", "conv1.conv.weight", "down.0.gn1.group_norm.weight"),
        convert_seed_unet,
    ),
)
