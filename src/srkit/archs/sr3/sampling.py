"""Noise schedules and samplers of SR3, as pure functions on the continuous noise level gamma.

Notation (Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement", Sec. 2): the noisy
target at noise level ``gamma`` in (0, 1] is ``y = sqrt(gamma) * y0 + sqrt(1 - gamma) * eps`` (Eq. 4),
``eps ~ N(0, I)``; ``gamma`` is DDPM's ``alpha_bar`` (Ho et al. 2020, Eq. 4) and ``gamma = 1`` is the clean
image. The network ``f(x, y, sqrt(gamma))`` predicts ``eps``; every sampler here takes it as a *denoiser*
``eps = denoiser(y, sqrt_gamma)`` with the conditioning ``x`` already bound, ``sqrt_gamma`` of shape
``(B,)``.

Schedules:

- :func:`train_alpha_bars`: the training schedule, betas linear from ``beta_1`` to ``beta_T`` over ``T``
  steps, ``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` with ``alpha_bar_0 = 1`` (Ho et al. 2020, Sec. 4);
- :func:`draw_training_gammas`: SR3's piecewise-uniform noise level (Sec. 2.4): ``t ~ U{1..T}`` and
  ``gamma ~ U(alpha_bar_t, alpha_bar_{t-1})``;
- :func:`linear_beta_gammas`: the sampling schedule of SR3's Algorithm 2, betas linear over ``N`` steps,
  ``gamma_t = prod_{s <= t} (1 - beta_s)``; :func:`linear_beta_gammas_between` the same shape with its
  ends fixed instead (``gamma_1``, ``gamma_N`` given, ``beta_N`` solved), for any ``N``.

A *gamma schedule* is a 1-D float64 tensor ``gammas`` of length ``N`` with ``gammas[t - 1] = gamma_t``,
decreasing from ``gamma_1`` (least noise) to ``gamma_N`` (most noise); ``gamma_0 = 1`` is implied. Samplers
start from ``y_N ~ N(0, I)`` and make one network call per step, ``t = N, ..., 1``:

- :func:`sample_sr3`: SR3's ancestral refinement (Algorithm 2, the DDPM step with ``sigma_t^2 = beta_t``);
- :func:`sample_ddim`: DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", Eq. 12 with the
  ``sigma_t(eta)`` of Eq. 16; ``eta = 0`` is deterministic, ``eta = 1`` DDPM-like);
- :func:`sample_dpmpp_2m`: DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided
  Sampling of Diffusion Probabilistic Models", Algorithm 2), the multistep second-order solver of the
  probability-flow ODE in data prediction, with the predicted ``y0`` clipped to [-1, 1].

Noise comes only from the ``torch.Generator`` passed in: the same generator state gives the same sample
(on the same device and build). A batch gets one draw of shape ``(B, C, H, W)`` per step, so every image of
it is sampled (with its own noise).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from srkit.errors import ConfigError

#: ``eps = denoiser(y, sqrt_gamma)``: the network with its conditioning bound; ``y`` ``(B, C, H, W)``
#: float32, ``sqrt_gamma`` ``(B,)`` float32; returns float32 ``eps`` of ``y``'s shape.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Sampler name -> function (what the runner's ``sampler`` option selects).
SAMPLER_NAMES = ("sr3", "ddim", "dpmpp_2m")


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------


def _check_betas(beta_start: float, beta_end: float, steps: int, what: str) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"{what}: steps={steps!r} must be an integer >= 1")
    for key, value in (("beta_start", beta_start), ("beta_end", beta_end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ConfigError(f"{what}: {key}={value!r} must be a number in (0, 1)")


def linear_betas(beta_start: float, beta_end: float, steps: int) -> torch.Tensor:
    """``steps`` betas linear from ``beta_start`` to ``beta_end`` (float64; DDPM's linear schedule)."""
    _check_betas(beta_start, beta_end, steps, "betas")
    if steps == 1:
        return torch.tensor([float(beta_start)], dtype=torch.float64)
    return torch.linspace(float(beta_start), float(beta_end), steps, dtype=torch.float64)


def train_alpha_bars(beta_start: float, beta_end: float, timesteps: int) -> torch.Tensor:
    """``alpha_bar_0..alpha_bar_T`` (length ``T + 1``, float64, ``alpha_bar_0 = 1``) of the training schedule:
    ``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` with betas linear from ``beta_start`` to ``beta_end``
    (Ho et al. 2020, Sec. 4; the seed re-implementation uses 1e-4 .. 0.005)."""
    _check_betas(beta_start, beta_end, timesteps, "training schedule")
    bars = torch.cumprod(1.0 - linear_betas(beta_start, beta_end, timesteps), dim=0)
    return torch.cat([torch.ones(1, dtype=torch.float64), bars])


def trained_gamma_range(alpha_bars: torch.Tensor) -> tuple[float, float]:
    """``(alpha_bar_T, 1)``: the noise levels :func:`draw_training_gammas` can draw from ``alpha_bars``."""
    return float(alpha_bars[-1]), float(alpha_bars[0])


def draw_training_gammas(
    alpha_bars: torch.Tensor, batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """SR3's training noise levels (Saharia et al. 2021, Sec. 2.4): per example ``t ~ U{1, ..., T}`` and
    ``gamma ~ U(alpha_bar_t, alpha_bar_{t-1})``, i.e. ``p(gamma) = sum_t 1/T U(gamma; alpha_bar_t,
    alpha_bar_{t-1})``.

    Args:
        alpha_bars: :func:`train_alpha_bars` (length ``T + 1``).
        batch: examples to draw for.
        generator: the only source of randomness (two draws: ``t`` then the uniform position).

    Returns:
        ``(t, gamma)`` on the generator's device: ``t`` int64 in ``1..T``, ``gamma`` float64 in
        ``[alpha_bar_t, alpha_bar_{t-1}]``.
    """
    device = generator.device
    bars = alpha_bars.to(device=device, dtype=torch.float64)
    timesteps = bars.numel() - 1
    t = torch.randint(1, timesteps + 1, (batch,), generator=generator, device=device)
    u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    low, high = bars[t], bars[t - 1]
    gamma = torch.minimum(torch.maximum(low + u * (high - low), low), high)
    return t, gamma


def linear_beta_gammas(beta_start: float, beta_end: float, steps: int) -> torch.Tensor:
    """The gamma schedule of SR3's Algorithm 2: betas linear from ``beta_start`` to ``beta_end`` over
    ``steps``, ``gamma_t = prod_{s <= t} (1 - beta_s)`` (float64, ``gamma_1 = 1 - beta_start`` first; the
    seed samples with 1e-4 .. 0.1 over 100 steps)."""
    _check_betas(beta_start, beta_end, steps, "sampling schedule")
    return torch.cumprod(1.0 - linear_betas(beta_start, beta_end, steps), dim=0)


def linear_beta_gammas_between(gamma_min: float, gamma_max: float, steps: int) -> torch.Tensor:
    """A linear-in-beta gamma schedule of ``steps`` with given ends: ``gamma_1 = gamma_max`` (``beta_1 = 1 -
    gamma_max``) and ``beta_N`` solved (bisection) so that ``gamma_N = gamma_min`` (to within 1e-12
    relative, never below it). With ``steps == 1`` the schedule is ``[gamma_min]``.

    This keeps the range of a schedule fixed when the number of steps changes (SR3's linear betas over
    fewer steps would otherwise stop at a much higher noise floor).

    Raises:
        ConfigError: ends outside ``0 < gamma_min < gamma_max < 1``, or a range too narrow for ``steps``
            linear betas starting at ``1 - gamma_max`` (even ``beta_N = 0`` ends below ``gamma_min``).
    """
    _check_range(gamma_min, gamma_max, "gamma_range")
    if gamma_max >= 1.0:
        raise ConfigError(
            f"gamma_range: the highest level {gamma_max!r} must be below 1 (gamma = 1 is no noise)"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"sampling schedule: steps={steps!r} must be an integer >= 1")
    if steps == 1:
        return torch.tensor([float(gamma_min)], dtype=torch.float64)
    beta_start = 1.0 - float(gamma_max)
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)

    def last_gamma(beta_end: float) -> float:
        betas = beta_start + (beta_end - beta_start) * ramp
        return float(torch.prod(1.0 - betas))

    low, high = 0.0, 1.0 - 1e-15  # last_gamma decreases in beta_end
    if last_gamma(low) < gamma_min:
        raise ConfigError(
            f"gamma_range: [{gamma_min:.6g}, {gamma_max:.6g}] is too narrow for {steps} linear-beta steps "
            f"(even beta_N = 0 ends at gamma {last_gamma(low):.6g}); use fewer steps or a wider range"
        )
    for _ in range(200):
        mid = 0.5 * (low + high)
        if last_gamma(mid) >= gamma_min:
            low = mid
        else:
            high = mid
        if high - low <= 1e-15:
            break
    betas = beta_start + (low - beta_start) * ramp
    return torch.cumprod(1.0 - betas, dim=0)


def logsnr_gammas_between(gamma_min: float, gamma_max: float, steps: int) -> torch.Tensor:
    """``steps`` gammas from ``gamma_max`` down to ``gamma_min``, uniform in the half log-SNR ``lambda =
    0.5 log(gamma / (1 - gamma))`` (the step spacing DPM-Solver recommends, Lu et al. 2022, Sec. 3.3); with
    ``steps == 1`` the schedule is ``[gamma_min]``."""
    _check_range(gamma_min, gamma_max, "gamma_range")
    if gamma_max >= 1.0:
        raise ConfigError(
            f"gamma_range: the highest level {gamma_max!r} must be below 1 (gamma = 1 is no noise)"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"sampling schedule: steps={steps!r} must be an integer >= 1")
    if steps == 1:
        return torch.tensor([float(gamma_min)], dtype=torch.float64)
    lam = torch.linspace(_log_snr(gamma_max), _log_snr(gamma_min), steps, dtype=torch.float64)
    gammas = torch.sigmoid(2.0 * lam)
    gammas[0], gammas[-1] = float(gamma_max), float(gamma_min)
    return gammas


#: Step spacings of a sampling schedule between two ends (the runner's ``spacing`` option).
SPACINGS = ("linear_beta", "logsnr")


def gammas_between(
    gamma_min: float, gamma_max: float, steps: int, spacing: str = "linear_beta"
) -> torch.Tensor:
    """:func:`linear_beta_gammas_between` or :func:`logsnr_gammas_between` by ``spacing``."""
    if spacing == "linear_beta":
        return linear_beta_gammas_between(gamma_min, gamma_max, steps)
    if spacing == "logsnr":
        return logsnr_gammas_between(gamma_min, gamma_max, steps)
    raise ConfigError(f"spacing: {spacing!r} is not supported; valid: {', '.join(SPACINGS)}")


def _check_range(gamma_min: float, gamma_max: float, what: str) -> None:
    for value in (gamma_min, gamma_max):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{what}: [{gamma_min!r}, {gamma_max!r}] must be two numbers")
    if not 0.0 < gamma_min < gamma_max <= 1.0:
        raise ConfigError(f"{what}: [{gamma_min:.6g}, {gamma_max:.6g}] needs 0 < min < max <= 1")


def schedule_range(gammas: torch.Tensor) -> tuple[float, float]:
    """``(gamma_N, gamma_1)``: the lowest and highest noise level a gamma schedule visits."""
    return float(gammas.min()), float(gammas.max())


def check_gamma_schedule(gammas: torch.Tensor) -> None:
    """Raise ConfigError unless ``gammas`` is a 1-D schedule decreasing strictly inside (0, 1)."""
    if gammas.dim() != 1 or gammas.numel() < 1:
        raise ConfigError(
            f"gamma schedule: expected a 1-D tensor of N >= 1 levels, got {tuple(gammas.shape)}"
        )
    if not bool(((gammas > 0) & (gammas < 1)).all()):
        raise ConfigError("gamma schedule: every gamma must lie in (0, 1)")
    if gammas.numel() > 1 and not bool((gammas[1:] < gammas[:-1]).all()):
        raise ConfigError("gamma schedule: gammas must decrease (gamma_1 > gamma_2 > ... > gamma_N)")


def check_in_trained_range(
    gammas: torch.Tensor, trained: tuple[float, float], *, force: bool = False, what: str = "sr3"
) -> None:
    """Refuse a sampling schedule that leaves the noise levels the network was trained on.

    Raises:
        ConfigError: one line naming the schedule's range and the trained range, unless ``force``.
    """
    low, high = schedule_range(gammas)
    t_low, t_high = trained
    tol = 1e-9 * max(t_low, 1e-300)
    if force or (low >= t_low - tol and high <= t_high):
        return
    raise ConfigError(
        f"{what}: the sampling schedule's gamma range [{low:.6g}, {high:.6g}] leaves the trained gamma range "
        f"[{t_low:.6g}, {t_high:.6g}] (noise levels the network never saw); narrow gamma_range or steps, "
        "or pass force=True"
    )


# --------------------------------------------------------------------------------------------------
# Steps (one update each, exposed for tests and custom loops)
# --------------------------------------------------------------------------------------------------


def predict_y0(y: torch.Tensor, eps: torch.Tensor, gamma: float) -> torch.Tensor:
    """``y0 = (y - sqrt(1 - gamma) eps) / sqrt(gamma)`` (Eq. 4 solved for ``y0``; DDIM Eq. 9)."""
    return (y - math.sqrt(1.0 - gamma) * eps) / math.sqrt(gamma)


def sr3_step(
    y: torch.Tensor, eps: torch.Tensor, gamma: float, gamma_prev: float, z: torch.Tensor | None
) -> torch.Tensor:
    """One step of SR3's Algorithm 2, ``y_t -> y_{t-1}``:
    ``y_{t-1} = (y_t - (1 - alpha_t) / sqrt(1 - gamma_t) * eps) / sqrt(alpha_t) + sqrt(1 - alpha_t) z`` with
    ``alpha_t = gamma_t / gamma_{t-1}`` (``gamma_0 = 1``) and ``z = 0`` at the last step (``z=None``)."""
    alpha = gamma / gamma_prev
    out = (y - (1.0 - alpha) / math.sqrt(1.0 - gamma) * eps) / math.sqrt(alpha)
    if z is not None:
        out = out + math.sqrt(1.0 - alpha) * z
    return out


def ddim_sigma(gamma: float, gamma_prev: float, eta: float) -> float:
    """DDIM's ``sigma_t(eta) = eta sqrt((1 - gamma_{t-1}) / (1 - gamma_t)) sqrt(1 - gamma_t / gamma_{t-1})``
    (Song et al. 2021, Eq. 16)."""
    return eta * math.sqrt((1.0 - gamma_prev) / (1.0 - gamma)) * math.sqrt(1.0 - gamma / gamma_prev)


def ddim_step(
    y: torch.Tensor,
    eps: torch.Tensor,
    gamma: float,
    gamma_prev: float,
    *,
    eta: float = 0.0,
    z: torch.Tensor | None = None,
    clip_y0: bool = False,
) -> torch.Tensor:
    """One DDIM step (Song et al. 2021, Eq. 12): ``y_{t-1} = sqrt(gamma_{t-1}) y0_hat + sqrt(1 - gamma_{t-1} -
    sigma_t^2) eps + sigma_t z`` with ``y0_hat`` from :func:`predict_y0` (clipped to [-1, 1] and ``eps``
    re-derived from it when ``clip_y0``) and ``sigma_t`` from :func:`ddim_sigma`; ``z`` is needed only when
    ``sigma_t > 0``."""
    y0 = predict_y0(y, eps, gamma)
    if clip_y0:
        y0 = y0.clamp(-1.0, 1.0)
        eps = (y - math.sqrt(gamma) * y0) / math.sqrt(1.0 - gamma)
    sigma = ddim_sigma(gamma, gamma_prev, eta)
    out = math.sqrt(gamma_prev) * y0 + math.sqrt(max(1.0 - gamma_prev - sigma * sigma, 0.0)) * eps
    if sigma > 0.0:
        if z is None:
            raise ValueError("ddim_step: eta > 0 needs noise z")
        out = out + sigma * z
    return out


def _log_snr(gamma: float) -> float:
    """``lambda = log(alpha / sigma) = 0.5 log(gamma / (1 - gamma))`` (DPM-Solver's half log-SNR)."""
    return 0.5 * (math.log(gamma) - math.log1p(-gamma))


# --------------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------------


def _noise(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str | None
) -> torch.Tensor:
    z = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return z if device is None else z.to(device)


def _levels(gammas: torch.Tensor) -> list[float]:
    check_gamma_schedule(gammas)
    return [float(g) for g in gammas.detach().to("cpu", torch.float64)]


def _call(denoiser: Denoiser, y: torch.Tensor, gamma: float) -> torch.Tensor:
    sqrt_gamma = torch.full((y.shape[0],), math.sqrt(gamma), dtype=torch.float32, device=y.device)
    return denoiser(y, sqrt_gamma).float()


def sample_sr3(
    denoiser: Denoiser,
    gammas: torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """SR3's iterative refinement (Saharia et al. 2021, Algorithm 2): ``y_N ~ N(0, I)``, then for
    ``t = N..1`` :func:`sr3_step` with ``z ~ N(0, I)`` for ``t > 1``. Returns ``y_0`` ``(B, C, H, W)``
    float32 (not clipped).

    Args:
        denoiser: ``eps = denoiser(y_t, sqrt(gamma_t))``.
        gammas: the gamma schedule (``gammas[t - 1] = gamma_t``, decreasing).
        shape: ``(B, C, H, W)`` of the sample.
        generator: every noise draw (``y_N`` first, then one ``z`` per step with ``t > 1``).
        device: where ``y`` lives (default: the generator's device).
    """
    levels = _levels(gammas)
    y = _noise(shape, generator, device)
    for t in range(len(levels), 0, -1):
        gamma, gamma_prev = levels[t - 1], levels[t - 2] if t > 1 else 1.0
        eps = _call(denoiser, y, gamma)
        z = _noise(shape, generator, y.device) if t > 1 else None
        y = sr3_step(y, eps, gamma, gamma_prev, z)
    return y


def sample_ddim(
    denoiser: Denoiser,
    gammas: torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    eta: float = 0.0,
    clip_y0: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, Eq. 12 and 16) over the gamma schedule: ``y_N ~ N(0, I)``, then for
    ``t = N..1`` :func:`ddim_step` (``gamma_0 = 1``, so the last step returns ``y0_hat``). ``eta = 0``
    draws only ``y_N`` (deterministic given it); ``eta > 0`` draws one ``z`` per step with ``t > 1``.
    ``clip_y0`` clips the predicted ``y0`` to [-1, 1]. Arguments otherwise as :func:`sample_sr3`."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise ConfigError(f"ddim: eta={eta!r} must be a number in [0, 1]")
    levels = _levels(gammas)
    y = _noise(shape, generator, device)
    for t in range(len(levels), 0, -1):
        gamma, gamma_prev = levels[t - 1], levels[t - 2] if t > 1 else 1.0
        eps = _call(denoiser, y, gamma)
        noisy = eta > 0.0 and t > 1
        z = _noise(shape, generator, y.device) if noisy else None
        y = ddim_step(y, eps, gamma, gamma_prev, eta=eta if noisy else 0.0, z=z, clip_y0=clip_y0)
    return y


def sample_dpmpp_2m(
    denoiser: Denoiser,
    gammas: torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    clip_y0: bool = True,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), from ``y_N ~ N(0, I)`` at ``gamma_N`` to ``gamma = 1``.

    With ``alpha = sqrt(gamma)``, ``sigma = sqrt(1 - gamma)``, ``lambda = log(alpha / sigma)`` and the data
    prediction ``D_i = clip(y0_hat(y_i))`` (clipped to [-1, 1] when ``clip_y0``), step ``i`` from level
    ``s = t_{i-1}`` to ``t = t_i`` with ``h_i = lambda_t - lambda_s`` is

        ``y_t = (sigma_t / sigma_s) y_s - alpha_t (exp(-h_i) - 1) D``

    with ``D = D_{i-1}`` on the first step (first order, DPM-Solver++(1) = DDIM) and
    ``D = (1 + 1/(2 r_i)) D_{i-1} - 1/(2 r_i) D_{i-2}``, ``r_i = h_{i-1} / h_i``, after it. The last step
    into ``gamma = 1`` (``sigma = 0``, ``h = inf``) is first order, which returns ``D_{N-1}`` itself (the
    "lower order final" of the paper's implementation). Deterministic given ``y_N``; one network call per
    level. Arguments otherwise as :func:`sample_sr3`.
    """
    levels = _levels(gammas)
    y = _noise(shape, generator, device)
    order = list(reversed(levels))  # gamma_N, ..., gamma_1, then 1
    prev_d: torch.Tensor | None = None
    prev_h: float | None = None
    for i, gamma in enumerate(order):
        eps = _call(denoiser, y, gamma)
        d = predict_y0(y, eps, gamma)
        if clip_y0:
            d = d.clamp(-1.0, 1.0)
        if i == len(order) - 1:  # into gamma_0 = 1: sigma_t = 0, first order gives D itself
            return d
        nxt = order[i + 1]
        h = _log_snr(nxt) - _log_snr(gamma)
        if prev_d is None or prev_h is None:
            blend = d
        else:
            r = prev_h / h
            blend = (1.0 + 0.5 / r) * d - (0.5 / r) * prev_d
        ratio = math.sqrt((1.0 - nxt) / (1.0 - gamma))
        y = ratio * y - math.sqrt(nxt) * math.expm1(-h) * blend
        prev_d, prev_h = d, h
    raise AssertionError("unreachable: the loop returns at the last level")


def sample(
    name: str,
    denoiser: Denoiser,
    gammas: torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    eta: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The sampler called ``name`` (:data:`SAMPLER_NAMES`); ``eta`` only for ``'ddim'`` (default 0).
    ``ddim`` and ``dpmpp_2m`` clip the predicted ``y0`` to [-1, 1] (as the DDPM/DDIM reference code's
    ``clip_denoised`` and DPM-Solver++ do); ``sr3`` is Algorithm 2 as written, without clipping."""
    if name == "sr3":
        return sample_sr3(denoiser, gammas, shape, generator, device=device)
    if name == "ddim":
        e = 0.0 if eta is None else eta
        return sample_ddim(denoiser, gammas, shape, generator, eta=e, clip_y0=True, device=device)
    if name == "dpmpp_2m":
        return sample_dpmpp_2m(denoiser, gammas, shape, generator, device=device)
    raise ConfigError(f"sampler: {name!r} is not supported; valid: {', '.join(SAMPLER_NAMES)}")
