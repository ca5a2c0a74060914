"""SR3's LR -> SR path: :class:`SR3Runner`, the :class:`~srkit.archs.Runner` whose ``network`` step is the
sampling loop of :mod:`srkit.archs.sr3.sampling`.

The base runner does the colour space, the bicubic upsampling (SR3 works on the upsampled image), the
padding to ``size_multiple`` and the final clamp; :meth:`SR3Runner.network` gets the padded upsampled
image ``x`` in [0, 1], maps it to ``cond = 2 x - 1``, draws ``y_N ~ N(0, I)`` from a generator seeded with
``seed`` on the runner's device, runs the sampler with ``eps = net(join(y_t, cond), sqrt(gamma_t))`` (the
network in the runner's precision, the sampler's arithmetic in float32) and returns ``(y_0 + 1) / 2``.

Options (each defaults to what the weights store, :class:`~srkit.archs.sr3.net.SR3UNet`'s ``sample_*``
hyper-parameters):

- ``sampler``: ``'sr3'`` (Algorithm 2), ``'ddim'``, ``'dpmpp_2m'``;
- ``steps``: network calls; with the stored ``sample_betas`` and ``sample_steps`` that exact schedule, else
  ``steps`` levels between the ends of ``gamma_range``, spaced as ``spacing`` says;
- ``spacing``: ``'linear_beta'`` (SR3's linear betas, the last one solved for the range) or ``'logsnr'``
  (uniform in log-SNR, DPM-Solver's); default ``'logsnr'`` for ``dpmpp_2m`` (a second-order multistep
  solver wants evenly sized steps in log-SNR) and ``'linear_beta'`` for the others;
- ``gamma_range``: ``[gamma_min, gamma_max]`` of the sampling schedule (default: the stored schedule's);
- ``eta``: DDIM's stochasticity (``ddim`` only; default 0, deterministic given the seed);
- ``seed``: the noise; the same seed gives the same image on the same machine (device, build and thread
  count); every call starts from it, so every image (and tile) of a run gets the same noise field;
- ``force``: sample even where the schedule leaves the trained gamma range ``[alpha_bar_T, 1]`` (otherwise
  a one-line ConfigError naming both ranges, raised by :meth:`configure` or on the first image).

Tiling is step-synchronous (NetInfo's ``tiling`` is ``'per_step'``): after :meth:`SR3Runner.step_tiles`
every network call of the sampler runs on overlapping tiles of the whole image (``tile`` input pixels a
side, so ``scale * tile`` in the upsampled image the network sees, starting at multiples of the U-Net's
size multiple) and the tiles' noise predictions are blended with the feed-forward tiler's raised-cosine
weights (:func:`srkit.archs.tiles.blend_tiles`), while the sampler keeps one state and one noise field
for the whole image. Each step is one denoiser call on the whole image, so the tiles cannot drift apart
and a large sample has no seams; a tile covering the image is exactly the untiled sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from srkit.archs.runner import Runner
from srkit.archs.sr3 import sampling as S
from srkit.archs.sr3.net import SR3UNet
from srkit.archs.tiles import blend_tiles
from srkit.errors import ConfigError

#: Most tokens of one self-attention in an automatically sized tile (a 64x64 map, 16M entries per head).
MAX_ATTENTION_TOKENS = 64 * 64


@dataclass(frozen=True)
class SamplingOptions:
    """What :class:`SR3Runner` samples with (see the module docstring)."""

    sampler: str
    steps: int
    seed: int = 0
    eta: float | None = None
    gamma_range: tuple[float, float] | None = None
    force: bool = False
    spacing: str | None = None

    @property
    def step_spacing(self) -> str:
        """``spacing``, or the sampler's default (``'logsnr'`` for ``dpmpp_2m``, else ``'linear_beta'``)."""
        if self.spacing is not None:
            return self.spacing
        return "logsnr" if self.sampler == "dpmpp_2m" else "linear_beta"


def _gamma_range(pair: Any) -> tuple[float, float]:
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise ConfigError(f"gamma_range: {pair!r} must be [gamma_min, gamma_max]")
    low, high = pair
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in pair):
        raise ConfigError(f"gamma_range: {pair!r} must be two numbers")
    if not 0.0 < low < high < 1.0:
        raise ConfigError(f"gamma_range: [{low}, {high}] needs 0 < gamma_min < gamma_max < 1")
    return float(low), float(high)


def _options(opts: SamplingOptions) -> SamplingOptions:
    """``opts`` checked, one ConfigError naming the option otherwise."""
    if opts.sampler not in S.SAMPLER_NAMES:
        raise ConfigError(f"sampler: {opts.sampler!r} is not supported; valid: {', '.join(S.SAMPLER_NAMES)}")
    if isinstance(opts.steps, bool) or not isinstance(opts.steps, int) or opts.steps < 1:
        raise ConfigError(f"steps: {opts.steps!r} must be an integer >= 1")
    if isinstance(opts.seed, bool) or not isinstance(opts.seed, int) or opts.seed < 0:
        raise ConfigError(f"seed: {opts.seed!r} must be an integer >= 0")
    if opts.eta is not None:
        if opts.sampler != "ddim":
            raise ConfigError(f"eta: only the ddim sampler takes eta (the sampler is {opts.sampler})")
        if isinstance(opts.eta, bool) or not isinstance(opts.eta, (int, float)) or not 0.0 <= opts.eta <= 1.0:
            raise ConfigError(f"eta: {opts.eta!r} must be a number in [0, 1]")
    if opts.gamma_range is not None:
        opts = replace(opts, gamma_range=_gamma_range(opts.gamma_range))
    if opts.spacing is not None and opts.spacing not in S.SPACINGS:
        raise ConfigError(f"spacing: {opts.spacing!r} is not supported; valid: {', '.join(S.SPACINGS)}")
    if not isinstance(opts.force, bool):
        raise ConfigError(f"force: {opts.force!r} must be true or false")
    return opts


class SR3Runner(Runner):
    """The runner of ``sr3`` networks: :class:`~srkit.archs.Runner` with the sampling loop as its network
    step (module docstring). Extra keyword arguments: the sampling options (default: the weights')."""

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        channels_last: bool | None = None,
        optimize: bool = False,
        compile: bool = False,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        eta: float | None = None,
        gamma_range: Sequence[float] | None = None,
        force: bool = False,
        spacing: str | None = None,
    ) -> None:
        if not isinstance(model, SR3UNet):
            raise ConfigError(f"SR3Runner: {type(model).__name__} is not an sr3 network")
        super().__init__(
            model,
            name=name,
            device=device,
            precision=precision,
            channels_last=channels_last,
            optimize=optimize,
            compile=compile,
        )
        hp = model.hparams
        self._options = _options(
            SamplingOptions(
                sampler=hp["sampler"] if sampler is None else sampler,
                steps=hp["sample_steps"] if steps is None else steps,
                seed=seed,
                eta=eta,
                gamma_range=None if gamma_range is None else tuple(gamma_range),  # type: ignore[arg-type]
                force=force,
                spacing=spacing,
            )
        )
        self._gammas: tuple[SamplingOptions, torch.Tensor] | None = None
        self._tiles = (0, 0)

    @property
    def net(self) -> SR3UNet:
        """The sr3 network."""
        assert isinstance(self.model, SR3UNet)
        return self.model

    @property
    def options(self) -> SamplingOptions:
        """The current sampling options."""
        return self._options

    def configure(
        self,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int | None = None,
        eta: float | None = None,
        gamma_range: Sequence[float] | None = None,
        force: bool | None = None,
        spacing: str | None = None,
    ) -> SR3Runner:
        """Change the sampling options (``None`` keeps one) and check the schedule against the trained range
        now; returns the runner."""
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "sampler": sampler,
                "steps": steps,
                "seed": seed,
                "eta": eta,
                "gamma_range": None if gamma_range is None else tuple(gamma_range),
                "force": force,
                "spacing": spacing,
            }.items()
            if value is not None
        }
        self._options = _options(replace(self._options, **changes))
        self.gamma_schedule()
        return self

    def gamma_schedule(self) -> torch.Tensor:
        """The sampling gamma schedule of the current options (float64, ``gammas[t - 1] = gamma_t``).

        Raises:
            ConfigError: one line naming the schedule's range and the trained one, when the schedule leaves
                the trained range and ``force`` is off.
        """
        opts = self._options
        if self._gammas is not None and self._gammas[0] == opts:
            return self._gammas[1]
        net = self.net
        gammas = net.default_gammas(steps=opts.steps, gamma_range=opts.gamma_range, spacing=opts.step_spacing)
        S.check_in_trained_range(
            gammas, net.trained_gamma_range(), force=opts.force, what=f"model {self.name}"
        )
        self._gammas = (opts, gammas)
        return gammas

    def step_tiles(self, tile: int, overlap: int) -> bool:
        """Cut every network call into tiles of ``tile`` input pixels sharing ``overlap`` (0: whole
        images), blended at every step (module docstring); returns True."""
        for what, value in (("tile", tile), ("tile overlap", overlap)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{what}: must be a non-negative integer, got {value!r}")
        if tile and 2 * overlap >= tile:
            raise ConfigError(f"tile overlap: {overlap} must be less than half the tile size ({tile})")
        self._tiles = (tile, overlap)
        return True

    def max_tile(self, scale: int) -> int | None:
        """Tiles whose largest self-attention has at most :data:`MAX_ATTENTION_TOKENS` tokens: the map
        grows with the square of the pixels (a 2400x1600 output would need 240k tokens at depth 2 of
        ``sr3-small``), so the automatic tile stops there (64 LR pixels at x4 for ``sr3-small``, 256 for
        the seed's 64->256 network)."""
        depth = self.net.first_attention_depth
        if depth is None:
            return None
        side = math.isqrt(MAX_ATTENTION_TOKENS) * 2**depth
        return max(1, side // scale)

    @property
    def tiles(self) -> tuple[int, int]:
        """``(tile, overlap)`` of :meth:`step_tiles`, in input pixels (``(0, 0)``: whole images)."""
        return self._tiles

    def __repr__(self) -> str:
        o = self._options
        return f"{super().__repr__()[:-1]}, sampler={o.sampler!r}, steps={o.steps}, seed={o.seed})"

    def network(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The sample for the padded, upsampled ``x`` ``(B, C, H, W)`` in [0, 1] (module docstring)."""
        net, opts = self.net, self._options
        gammas = self.gamma_schedule()
        cond = x.float() * 2.0 - 1.0
        generator = torch.Generator(device=self.device)
        generator.manual_seed(opts.seed)

        tile, overlap = self._tiles

        def predict(joined: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
            if self.channels_last:
                joined = joined.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                return net(joined, sqrt_gamma).float()

        def denoise(y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
            return net.noise_from(output(y, sqrt_gamma), y, sqrt_gamma)

        def output(y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
            joined = net.join(y, cond)
            if not tile:
                return predict(joined, sqrt_gamma)
            return blend_tiles(
                lambda part: predict(part, sqrt_gamma),
                joined,
                scale * tile,
                scale * overlap,
                align=self.size_multiple,
            )

        y0 = S.sample(
            opts.sampler, denoise, gammas, tuple(cond.shape), generator, eta=opts.eta, device=cond.device
        )
        return (net.image_from(y0, cond).clamp(-1.0, 1.0) + 1.0) * 0.5
