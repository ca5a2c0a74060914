"""Network interpolation between a PSNR-oriented and a GAN-trained network of the same architecture.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV Workshops 2018,
sec. 3.4 ("Network Interpolation"): to trade the GAN model's hallucinated detail against the PSNR model's
fidelity without retraining, every parameter is blended,

    theta_INTERP = (1 - alpha) * theta_PSNR + alpha * theta_GAN,   alpha in [0, 1],

so ``alpha = 0`` is the PSNR model and ``alpha = 1`` the GAN model. Both networks must have the same
architecture (same ``arch``, hyper-parameters and scale, hence the same state-dict keys and shapes);
anything else is refused with a one-line :class:`~srkit.errors.SrkitError` naming both files and the
first difference.

- :func:`interpolate_state_dicts` is the pure arithmetic on two state dicts (floating tensors are
  blended in float64 and stored in their common dtype; integer and bool buffers must be equal and are
  copied; ``alpha`` 0 and 1 return the endpoints exactly);
- :func:`interpolate_checkpoints` reads two models (named models such as ``edsr-baseline-x2``, srkit
  ``.safetensors`` files or any third-party layout :mod:`srkit.archs.loading` converts: whatever
  :func:`srkit.archs.load_network` takes), checks that they match, and writes one srkit weight file
  per ``alpha`` atomically, with ``extra['interpolation'] = {'alpha', 'psnr_model', 'gan_model'}``.
  ``srkit interpolate`` (:mod:`srkit.cli.interpolate`) is its command line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from srkit.archs.loading import load_network, save_weights
from srkit.archs.registry import model_spec, net_info
from srkit.errors import SrkitError
from srkit.models import find_model

__all__ = [
    "alpha_output_path",
    "check_alpha",
    "check_same_architecture",
    "interpolate_checkpoints",
    "interpolate_state_dicts",
]

_OUT_SUFFIX = ".safetensors"


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float; :class:`SrkitError` unless it is a finite number in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise SrkitError(f"--alpha: must be a number in [0, 1], got {alpha!r}")
    if not 0.0 <= alpha <= 1.0:
        raise SrkitError(f"--alpha: must be in [0, 1] (0 = PSNR model, 1 = GAN model), got {alpha:g}")
    return float(alpha)


def _differ(psnr_name: str, gan_name: str, what: str) -> SrkitError:
    return SrkitError(f"cannot interpolate {psnr_name} and {gan_name}: {what}")


def interpolate_state_dicts(
    psnr_state: Mapping[str, torch.Tensor],
    gan_state: Mapping[str, torch.Tensor],
    alpha: float,
    *,
    psnr_name: str = "PSNR model",
    gan_name: str = "GAN model",
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * psnr_state + alpha * gan_state`` key by key (Wang et al. 2018, ESRGAN sec. 3.4).

    Keys come out in ``psnr_state``'s order. Floating tensors are blended in float64 and returned in
    the promoted dtype of the two (``alpha`` 0 and 1 give the endpoints exactly, as does a tensor equal
    in both); non-floating tensors (integer or bool buffers such as BatchNorm's ``num_batches_tracked``)
    must be equal and are copied. Returns new CPU tensors; the inputs are not modified.

    Raises:
        SrkitError: one line naming ``psnr_name`` and ``gan_name``: ``alpha`` outside [0, 1], the first
            key only one of them has, the first key whose shape differs, a key floating in one and not
            in the other, or the first non-floating tensor whose values differ.
    """
    alpha = check_alpha(alpha)
    only_psnr = [k for k in psnr_state if k not in gan_state]
    only_gan = [k for k in gan_state if k not in psnr_state]
    if only_psnr:
        raise _differ(psnr_name, gan_name, f"key {only_psnr[0]!r} is only in {psnr_name}{_more(only_psnr)}")
    if only_gan:
        raise _differ(psnr_name, gan_name, f"key {only_gan[0]!r} is only in {gan_name}{_more(only_gan)}")
    out: dict[str, torch.Tensor] = {}
    for key, a in psnr_state.items():
        b = gan_state[key]
        a, b = a.detach().to("cpu"), b.detach().to("cpu")
        if a.shape != b.shape:
            raise _differ(psnr_name, gan_name, f"{key!r} has shape {tuple(a.shape)} vs {tuple(b.shape)}")
        floating = a.is_floating_point() and b.is_floating_point()
        if not floating and a.dtype != b.dtype:
            raise _differ(psnr_name, gan_name, f"{key!r} has dtype {a.dtype} vs {b.dtype}")
        if not floating:
            if not torch.equal(a, b):
                raise _differ(
                    psnr_name,
                    gan_name,
                    f"{a.dtype} buffer {key!r} differs (only floating tensors are interpolated)",
                )
            out[key] = a.clone()
            continue
        dtype = torch.promote_types(a.dtype, b.dtype)
        if alpha == 0.0 or (a.dtype == b.dtype and torch.equal(a, b)):
            out[key] = a.to(dtype, copy=True)
        elif alpha == 1.0:
            out[key] = b.to(dtype, copy=True)
        else:
            mixed = (1.0 - alpha) * a.to(torch.float64) + alpha * b.to(torch.float64)
            out[key] = mixed.to(dtype)
    return out


def _more(items: list[str]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def check_same_architecture(
    psnr_spec: Mapping[str, Any],
    gan_spec: Mapping[str, Any],
    *,
    psnr_name: str = "PSNR model",
    gan_name: str = "GAN model",
) -> None:
    """Raise a one-line :class:`SrkitError` naming both models and the first difference between two
    ``{'arch', 'hparams', 'scale'}`` descriptions (arch, then each hyper-parameter in sorted order, then
    scale); return when they are the same network."""
    if psnr_spec["arch"] != gan_spec["arch"]:
        raise _differ(
            psnr_name, gan_name, f"different architectures ({psnr_spec['arch']!r} vs {gan_spec['arch']!r})"
        )
    hp_a, hp_b = dict(psnr_spec["hparams"]), dict(gan_spec["hparams"])
    for key in sorted(set(hp_a) | set(hp_b)):
        va, vb = hp_a.get(key, "<unset>"), hp_b.get(key, "<unset>")
        if _plain(va) != _plain(vb):
            raise _differ(psnr_name, gan_name, f"hyper-parameter {key!r} differs ({va!r} vs {vb!r})")
    if int(psnr_spec["scale"]) != int(gan_spec["scale"]):
        raise _differ(
            psnr_name, gan_name, f"different scales (x{psnr_spec['scale']} vs x{gan_spec['scale']})"
        )


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (JSON metadata turns one into the other)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def alpha_output_path(out: Path, alpha: float) -> Path:
    """``OUT_alpha0.8.safetensors`` for ``out = OUT.safetensors`` (the name used with several alphas)."""
    return out.with_name(f"{out.stem}_alpha{alpha:g}{out.suffix}")


def _read(name_or_path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """srkit-layout state dict and ``{'arch', 'hparams', 'scale'}`` of any model
    :func:`srkit.archs.load_network` takes (named models and srkit weight files as stored; third-party
    layouts converted by :mod:`srkit.archs.loading`)."""
    model = load_network(name_or_path)
    spec = {**model_spec(model), "scale": net_info(model).scale}
    return dict(model.state_dict()), spec


def _source(name_or_path: str | Path) -> tuple[str, str, Path]:
    """``(what messages call it, what the output's metadata records, its weight file)`` of a named
    model or a checkpoint path."""
    text = str(name_or_path).strip()
    card = find_model(text.lower())
    if card is not None:
        return card.name, card.name, card.path
    path = Path(text).expanduser()
    return str(name_or_path), path.name, path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.exists() and a.samefile(b)
    except OSError:
        return a.resolve() == b.resolve()


def interpolate_checkpoints(
    psnr_model: str | Path,
    gan_model: str | Path,
    alphas: float | Sequence[float],
    out: str | Path,
) -> list[Path]:
    """Interpolate two models of one architecture and write srkit weight files; returns their paths.

    ``psnr_model`` and ``gan_model`` are what :func:`srkit.archs.load_network` takes: a named model
    (``edsr-baseline-x2``) or a checkpoint file.

    With one ``alpha`` the file is ``out``; with several, one file per distinct alpha named by
    :func:`alpha_output_path` (``OUT_alpha0.8.safetensors``). Each file holds the network's ``arch``,
    ``hparams`` and ``scale`` and ``extra['interpolation'] = {'alpha': a, 'psnr_model': name,
    'gan_model': name}`` (the named models or file names), and is written atomically.

    Raises:
        SrkitError: one line: an ``alpha`` outside [0, 1], an output that does not end in
            ``.safetensors`` or is one of the inputs, an unreadable checkpoint (naming it), or two
            networks that differ (naming both files and the first difference in arch, hyper-parameters,
            scale, keys or shapes).
    """
    (psnr_label, psnr_name, psnr_path), (gan_label, gan_name, gan_path) = (
        _source(psnr_model),
        _source(gan_model),
    )
    out = Path(out)
    values = [alphas] if isinstance(alphas, (int, float)) else list(alphas)
    if not values:
        raise SrkitError("--alpha: give at least one value in [0, 1]")
    values = list(dict.fromkeys(check_alpha(a) for a in values))
    if out.suffix.lower() != _OUT_SUFFIX:
        raise SrkitError(f"{out}: the output must be an srkit {_OUT_SUFFIX} file")
    targets = [out] if len(values) == 1 else [alpha_output_path(out, a) for a in values]
    for target in targets:
        for source in (psnr_path, gan_path):
            if _same_file(source, target) or source.absolute() == target.absolute():
                raise SrkitError(f"{target}: refusing to overwrite an input; choose another output file")
    psnr_state, psnr_spec = _read(psnr_model)
    gan_state, gan_spec = _read(gan_model)
    names = {"psnr_name": psnr_label, "gan_name": gan_label}
    check_same_architecture(psnr_spec, gan_spec, **names)
    written = []
    for alpha, target in zip(values, targets, strict=True):
        state = interpolate_state_dicts(psnr_state, gan_state, alpha, **names)
        extra = {"interpolation": {"alpha": alpha, "psnr_model": psnr_name, "gan_model": gan_name}}
        written.append(
            save_weights(
                target,
                state,
                arch=psnr_spec["arch"],
                hparams=psnr_spec["hparams"],
                scale=psnr_spec["scale"],
                extra=extra,
            )
        )
    return written
