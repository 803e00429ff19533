import math

import pytest
import torch

from vidray.data.audio import (
    log_mel_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    resample_waveform,
)


def tone(freq, rate, seconds=1.0):
    t = torch.arange(int(rate * seconds), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t)


@pytest.mark.parametrize("orig,new", [(16000, 8000), (8000, 16000), (44100, 16000)])
def test_resampling_preserves_a_tone_and_the_duration(orig, new):
    out = resample_waveform(tone(440, orig), orig, new)
    assert out.shape == (new,)
    reference = tone(440, new)
    interior = slice(100, new - 100)  # edges see zero padding
    assert torch.allclose(out[interior], reference[interior], atol=1e-2)


def test_resampling_removes_frequencies_above_the_new_nyquist():
    out = resample_waveform(tone(6000, 16000), 16000, 8000)
    assert out[100:-100].abs().max() < 0.05


def test_resampling_batched_layout():
    batch = torch.stack([tone(440, 16000), tone(880, 16000)]).float().reshape(2, 1, -1)
    assert resample_waveform(batch, 16000, 8000).shape == (2, 1, 8000)


def test_mel_spectrogram_layout_and_peak_bin():
    spec = mel_spectrogram(tone(1000, 16000).float(), 16000, n_fft=400, hop_length=160, n_mels=40)
    assert spec.shape == (101, 40)  # [T, F]: one frame per 10 ms hop, centred
    fb = mel_filterbank(201, 16000, 40)
    expected_bin = int(fb[1000 * 400 // 16000].argmax())
    assert int(spec[50].argmax()) == expected_bin


def test_log_mel_is_finite_for_silence():
    out = log_mel_spectrogram(torch.zeros(2, 1600), 16000)
    assert out.shape == (2, 11, 80) and torch.isfinite(out).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty waveform"):
        mel_spectrogram(torch.zeros(0), 16000)
    with pytest.raises(TypeError, match="float tensor"):
        resample_waveform(torch.zeros(10, dtype=torch.int16), 16000, 8000)
    with pytest.raises(ValueError, match="positive"):
        resample_waveform(torch.zeros(10), 0, 8000)
