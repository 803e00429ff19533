"""Audio modality: resampling and log-mel spectrograms on canonical layouts.

Waveforms are ``[..., T]`` (T samples), spectrograms ``[..., T, F]`` (T frames,
F mel bins), the layouts of PyTorchVideo's acoustic models. Implemented with
torch alone (torchaudio's signal functions are no longer maintained).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def resample_waveform(
    waveform: torch.Tensor,
    orig_freq: int,
    new_freq: int,
    lowpass_filter_width: int = 6,
    rolloff: float = 0.99,
) -> torch.Tensor:
    """Band-limited (windowed-sinc) resampling of ``[..., T]`` from ``orig_freq`` to ``new_freq``.

    Output length is ``ceil(T * new_freq / orig_freq)``, so a clip of ``d``
    seconds stays ``d`` seconds long and stays aligned with its video clip.
    """
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_freq} -> {new_freq}")
    if orig_freq == new_freq:
        return waveform
    if not waveform.is_floating_point():
        raise TypeError(f"waveform must be a float tensor [..., T], got dtype {waveform.dtype}")
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    shape, length = waveform.shape[:-1], waveform.shape[-1]
    kernel, width = _sinc_kernel(orig, new, lowpass_filter_width, rolloff, waveform.dtype, waveform.device)
    flat = waveform.reshape(-1, 1, length)
    padded = F.pad(flat, (width, width + orig))
    out = F.conv1d(padded, kernel, stride=orig).transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new * length / orig)
    return out[..., :target].reshape(*shape, target)


def _sinc_kernel(
    orig: int, new: int, lowpass_filter_width: int, rolloff: float, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, int]:
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + idx
    t = (t * base_freq).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    kernel = sinc * window * (base_freq / orig)
    return kernel.to(dtype=dtype, device=device), width


def _hz_to_mel(freq: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + freq / 700.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_freqs: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular HTK mel filters as a ``[n_freqs, n_mels]`` matrix."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}")
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mel_points = torch.linspace(_hz_to_mel(torch.tensor(f_min)), _hz_to_mel(torch.tensor(f_max)), n_mels + 2)
    f_pts = _mel_to_hz(mel_points)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.min(down, up), min=0.0)


def mel_spectrogram(
    waveform: torch.Tensor,
    sample_rate: int,
    n_fft: int = 400,
    hop_length: int = 160,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> torch.Tensor:
    """Power mel spectrogram ``[..., T, F]`` of a waveform ``[..., T]`` (Hann window, centred frames)."""
    if waveform.dim() < 1 or waveform.shape[-1] == 0:
        raise ValueError(f"expected a non-empty waveform [..., T], got shape {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise TypeError(f"waveform must be a float tensor [..., T], got dtype {waveform.dtype}")
    shape, length = waveform.shape[:-1], waveform.shape[-1]
    flat = waveform.reshape(-1, length)
    if length <= n_fft // 2:  # reflect padding needs more samples than half a window
        flat = F.pad(flat, (0, n_fft // 2 + 1 - length))
    window = torch.hann_window(n_fft, device=waveform.device, dtype=waveform.dtype)
    spec = torch.stft(flat, n_fft, hop_length=hop_length, window=window, center=True, return_complex=True)
    power = spec.abs().pow(2)  # [B, n_freqs, T]
    fb = mel_filterbank(n_fft // 2 + 1, sample_rate, n_mels, f_min, f_max).to(power)
    mel = torch.matmul(power.transpose(1, 2), fb)  # [B, T, F]
    return mel.reshape(*shape, mel.shape[-2], n_mels)


def log_mel_spectrogram(
    waveform: torch.Tensor, sample_rate: int, eps: float = 1e-6, **kwargs: int | float | None
) -> torch.Tensor:
    """``log(mel_spectrogram + eps)``, the input of acoustic and audio-visual models."""
    return torch.log(mel_spectrogram(waveform, sample_rate, **kwargs) + eps)
