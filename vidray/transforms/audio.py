"""Audio transforms: resampling, (log-)mel spectrograms and SpecAugment masking.

Layouts are PyTorchVideo's: a waveform is float ``[..., T]`` (T samples), a
spectrogram float ``[..., T, F]`` (T frames, F mel bins). The signal
processing lives in :mod:`vidray.data.audio`; these modules add the layout
checks, constructor validation and registration, so a config can name them
(wrap them in ``ApplyTransformToKey("audio", ...)`` for dataset samples).

Masking follows SpecAugment (Park et al., 2019). Which dimensions form one
example is decided by rank, as for videos: ``[T, F]`` and ``[C, T, F]`` are
one example (its channels share the bands), ``[B, C, T, F]`` is a batch in
which every example draws its own bands, as it would in a data worker. A
batch of mono spectrograms ``[B, T, F]`` must be given as ``[B, 1, T, F]``.
Band positions are drawn from torch's global CPU generator, so
``torch.manual_seed`` reproduces them and CPU and CUDA inputs get the same bands.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vidray.data.audio import log_mel_spectrogram, mel_spectrogram, resample_waveform
from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import describe
from vidray.transforms.compose import TRANSFORMS

WAVEFORM_LAYOUT = "a float waveform [..., T]"
SPECTROGRAM_LAYOUT = "a float spectrogram [T, F], [C, T, F] or a batch [B, C, T, F]"


def check_waveform(x: object, who: str) -> torch.Tensor:
    """Returns ``x`` if it is a non-empty floating-point ``[..., T]`` tensor, else raises."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or not x.is_floating_point() or 0 in x.shape:
        raise LayoutError(f"{who}: expected {WAVEFORM_LAYOUT}, got {describe(x)}")
    return x


def check_spectrogram(x: object, who: str) -> torch.Tensor:
    """Returns ``x`` if it is a non-empty floating-point spectrogram of rank 2 to 4, else raises."""
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3, 4) or not x.is_floating_point() or 0 in x.shape:
        raise LayoutError(f"{who}: expected {SPECTROGRAM_LAYOUT}, got {describe(x)}")
    return x


@TRANSFORMS.register()
class Resample(nn.Module):
    """Band-limited resampling of ``[..., T]`` from ``orig_freq`` to ``new_freq`` Hz.

    The output has ``ceil(T * new_freq / orig_freq)`` samples, so an audio
    clip keeps the duration of the video clip it belongs to.
    """

    def __init__(self, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6, rolloff: float = 0.99) -> None:
        super().__init__()
        for name, value in (("orig_freq", orig_freq), ("new_freq", new_freq)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"Resample: {name} must be a positive int (Hz), got {value!r}")
        if lowpass_filter_width < 1:
            raise ConfigError(f"Resample: lowpass_filter_width must be >= 1, got {lowpass_filter_width}")
        if not 0.0 < rolloff <= 1.0:
            raise ConfigError(f"Resample: rolloff must be in (0, 1], got {rolloff}")
        self.orig_freq, self.new_freq = orig_freq, new_freq
        self.lowpass_filter_width, self.rolloff = lowpass_filter_width, rolloff

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, "Resample")
        return resample_waveform(waveform, self.orig_freq, self.new_freq, self.lowpass_filter_width, self.rolloff)


@TRANSFORMS.register()
class MelSpectrogram(nn.Module):
    """Power mel spectrogram ``[..., T, F]`` of a waveform ``[..., T]`` (one frame per ``hop_length``)."""

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        for name, value in (("sample_rate", sample_rate), ("n_fft", n_fft), ("hop_length", hop_length)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{who}: {name} must be a positive int, got {value!r}")
        if not isinstance(n_mels, int) or n_mels < 1:
            raise ConfigError(f"{who}: n_mels must be a positive int, got {n_mels!r}")
        top = sample_rate / 2 if f_max is None else f_max
        if not 0 <= f_min < top <= sample_rate / 2:
            raise ConfigError(
                f"{who}: need 0 <= f_min < f_max <= sample_rate / 2 ({sample_rate / 2}), "
                f"got f_min={f_min}, f_max={f_max}"
            )
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.f_min, self.f_max = f_min, f_max

    def _options(self) -> dict[str, int | float | None]:
        return {
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "n_mels": self.n_mels,
            "f_min": self.f_min,
            "f_max": self.f_max,
        }

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, type(self).__name__)
        return mel_spectrogram(waveform, self.sample_rate, **self._options())


@TRANSFORMS.register()
class LogMelSpectrogram(MelSpectrogram):
    """``log(mel power + eps)`` ``[..., T, F]``: the input of acoustic and audio-visual models."""

    def __init__(
        self,
        sample_rate: int,
        eps: float = 1e-6,
        n_fft: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__(sample_rate, n_fft, hop_length, n_mels, f_min, f_max)
        if not eps > 0:
            raise ConfigError(f"LogMelSpectrogram: eps must be positive (log of silence), got {eps}")
        self.eps = eps

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, "LogMelSpectrogram")
        return log_mel_spectrogram(waveform, self.sample_rate, self.eps, **self._options())


class _AxisMasking(nn.Module):
    """Shared by the SpecAugment masks: ``num_masks`` random bands along one axis of ``[..., T, F]``.

    Each band's width is drawn uniformly from ``0..max_width`` (capped by the
    axis length and, for time, by ``p``), then its start uniformly from the
    positions where it fits. Bands may overlap. ``fill`` is the value written
    into them: a number, or ``"mean"`` for the mean of the example before
    masking (for log spectrograms, where 0 is not silence).
    """

    axis: int  # -2: time, -1: frequency

    def __init__(self, max_width: int, num_masks: int, fill: float | str, p: float = 1.0) -> None:
        super().__init__()
        who = type(self).__name__
        if not isinstance(max_width, int) or max_width < 0:
            raise ConfigError(f"{who}: max_width must be an int >= 0, got {max_width!r}")
        if not isinstance(num_masks, int) or num_masks < 0:
            raise ConfigError(f"{who}: num_masks must be an int >= 0, got {num_masks!r}")
        if not (fill == "mean" or isinstance(fill, (int, float)) and not isinstance(fill, bool)):
            raise ConfigError(f"{who}: fill must be a number or 'mean', got {fill!r}")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{who}: p must be in [0, 1], got {p}")
        self.max_width, self.num_masks, self.fill, self.p = max_width, num_masks, fill, p

    def make_params(self, spectrogram: torch.Tensor) -> dict[str, torch.Tensor]:
        """The bands of one call: ``start`` and ``width``, each ``[num_examples, num_masks]`` (on the CPU)."""
        size = spectrogram.shape[self.axis]
        examples = spectrogram.shape[0] if spectrogram.dim() == 4 else 1
        cap = min(self.max_width, math.floor(self.p * size))
        # Uniform integers by flooring scaled uniforms; the clamps catch float32 rounding up to the bound.
        width = (torch.rand(examples, self.num_masks) * (cap + 1)).floor().long().clamp_(max=cap)
        start = (torch.rand(examples, self.num_masks) * (size - width + 1)).floor().long()
        return {"start": torch.minimum(start, size - width), "width": width}

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        check_spectrogram(spectrogram, type(self).__name__)
        if self.max_width == 0 or self.num_masks == 0:
            return spectrogram
        params = self.make_params(spectrogram)
        device = spectrogram.device
        start, end = params["start"].to(device), (params["start"] + params["width"]).to(device)
        positions = torch.arange(spectrogram.shape[self.axis], device=device)
        masked = ((positions >= start[..., None]) & (positions < end[..., None])).any(dim=1)  # [examples, size]
        batch = spectrogram if spectrogram.dim() == 4 else spectrogram.reshape(1, -1, *spectrogram.shape[-2:])
        masked = masked[:, None, :, None] if self.axis == -2 else masked[:, None, None, :]
        if self.fill == "mean":
            fill = batch.mean(dim=(1, 2, 3), keepdim=True)
        else:
            fill = torch.tensor(float(self.fill), dtype=batch.dtype, device=device)
        return torch.where(masked, fill, batch).reshape(spectrogram.shape)


@TRANSFORMS.register()
class TimeMasking(_AxisMasking):
    """SpecAugment time masks: ``num_masks`` bands of up to ``max_width`` frames along T of ``[..., T, F]``.

    ``p`` is SpecAugment's upper bound on a band as a fraction of the frames
    (torchaudio's ``p``), so short clips are never wiped out; it is not a
    probability of applying the mask.
    """

    axis = -2

    def __init__(self, max_width: int, num_masks: int = 1, p: float = 1.0, fill: float | str = 0.0) -> None:
        super().__init__(max_width, num_masks, fill, p)


@TRANSFORMS.register()
class FrequencyMasking(_AxisMasking):
    """SpecAugment frequency masks: ``num_masks`` bands of up to ``max_width`` bins along F of ``[..., T, F]``."""

    axis = -1

    def __init__(self, max_width: int, num_masks: int = 1, fill: float | str = 0.0) -> None:
        super().__init__(max_width, num_masks, fill)
