import math

import pytest
import torch

from vidray.data.audio import log_mel_spectrogram
from vidray.errors import ConfigError, LayoutError
from vidray.transforms.audio import (
    FrequencyMasking,
    LogMelSpectrogram,
    MelSpectrogram,
    Resample,
    TimeMasking,
)
from vidray.transforms.compose import build_transform


def tone(freq: float, rate: int, samples: int) -> torch.Tensor:
    return torch.sin(2 * math.pi * freq * torch.arange(samples, dtype=torch.float64) / rate).float()


def peak_hz(waveform: torch.Tensor, rate: int) -> float:
    return float(torch.fft.rfft(waveform).abs().argmax()) * rate / waveform.shape[-1]


def zeroed(spectrogram: torch.Tensor, axis: int) -> set[int]:
    """Positions along ``axis`` (-2: frames, -1: bins) of ``[..., T, F]`` that are 0 everywhere."""
    along = spectrogram.movedim(axis, 0).reshape(spectrogram.shape[axis], -1)
    return set(torch.nonzero((along == 0).all(dim=1)).flatten().tolist())


def drawn(params: dict[str, torch.Tensor], example: int = 0) -> set[int]:
    """Positions covered by the bands ``make_params`` drew for one example."""
    starts, widths = params["start"][example].tolist(), params["width"][example].tolist()
    return {i for start, width in zip(starts, widths) for i in range(start, start + width)}


@pytest.mark.parametrize("orig,new,samples", [(16000, 8000, 16000), (8000, 22050, 7999), (44100, 16000, 4410)])
def test_resample_keeps_duration_and_tone_frequency(orig, new, samples):
    out = Resample(orig, new)(tone(440, orig, samples))
    assert out.shape == (math.ceil(samples * new / orig),)
    assert abs(peak_hz(out, new) - 440) <= new / out.shape[-1]  # within one FFT bin


def test_resample_keeps_leading_dims():
    batch = torch.stack([tone(440, 16000, 1600), tone(880, 16000, 1600)]).reshape(2, 1, -1)
    assert Resample(16000, 8000)(batch).shape == (2, 1, 800)


def test_log_mel_spectrogram_is_frames_by_mel_bins():
    waveform = torch.stack([tone(440, 16000, 16000), tone(2000, 16000, 16000)])
    out = LogMelSpectrogram(16000, n_mels=40, hop_length=160)(waveform)
    assert out.shape == (2, 101, 40)  # [..., T, F]: a centred frame per 10 ms hop
    assert torch.equal(out, log_mel_spectrogram(waveform, 16000, n_mels=40, hop_length=160))
    assert MelSpectrogram(16000, n_mels=40)(waveform).shape == (2, 101, 40)


def test_audio_pipeline_builds_from_a_config():
    pipeline = build_transform(
        [
            {"name": "Resample", "args": {"orig_freq": 16000, "new_freq": 8000}},
            {"name": "LogMelSpectrogram", "args": {"sample_rate": 8000, "n_mels": 32, "hop_length": 80}},
            {"name": "TimeMasking", "args": {"max_width": 5}},
            {"name": "FrequencyMasking", "args": {"max_width": 4, "fill": "mean"}},
        ]
    )
    assert pipeline(tone(440, 16000, 16000)).shape == (101, 32)


@pytest.mark.parametrize("masking,axis", [(TimeMasking, -2), (FrequencyMasking, -1)])
def test_masking_zeroes_exactly_the_drawn_bands(masking, axis):
    spectrogram = torch.rand(2, 60, 40) + 1.0  # [C, T, F], no zeros of its own
    transform = masking(max_width=7, num_masks=3)
    torch.manual_seed(5)
    params = transform.make_params(spectrogram)
    torch.manual_seed(5)
    out = transform(spectrogram)
    assert params["width"].shape == (1, 3) and int(params["width"].max()) <= 7
    assert zeroed(out, axis) == drawn(params) != set()
    kept = torch.tensor(sorted(set(range(spectrogram.shape[axis])) - drawn(params)))
    assert torch.equal(out.index_select(axis, kept), spectrogram.index_select(axis, kept))


def test_masking_is_reproducible_under_manual_seed():
    spectrogram = torch.rand(100, 64) + 1.0
    transform = TimeMasking(max_width=10, num_masks=2)
    torch.manual_seed(0)
    first = transform(spectrogram)
    torch.manual_seed(0)
    assert torch.equal(transform(spectrogram), first)
    torch.manual_seed(1)
    assert not torch.equal(transform(spectrogram), first)


def test_each_example_of_a_batch_draws_its_own_bands():
    batch = torch.rand(6, 1, 50, 32) + 1.0  # [B, C, T, F]
    transform = FrequencyMasking(max_width=8, num_masks=2)
    torch.manual_seed(3)
    params = transform.make_params(batch)
    torch.manual_seed(3)
    out = transform(batch)
    assert params["start"].shape == (6, 2)
    assert [zeroed(out[b], -1) for b in range(6)] == [drawn(params, b) for b in range(6)]
    assert len({frozenset(drawn(params, b)) for b in range(6)}) > 1


def test_time_mask_width_is_capped_by_p():
    transform = TimeMasking(max_width=50, num_masks=4, p=0.1)
    torch.manual_seed(0)
    widths = torch.cat([transform.make_params(torch.ones(30, 8))["width"] for _ in range(50)])
    assert int(widths.max()) == 3  # floor(0.1 * 30) frames, reached


def test_max_width_zero_is_the_identity():
    spectrogram = torch.rand(3, 20, 16)
    assert torch.equal(TimeMasking(0, num_masks=5)(spectrogram), spectrogram)
    assert torch.equal(FrequencyMasking(0)(spectrogram), spectrogram)


def test_mean_fill_writes_the_mean_of_each_example():
    batch = torch.rand(2, 1, 20, 10) + torch.tensor([4.0, -2.0]).view(2, 1, 1, 1)
    transform = TimeMasking(max_width=5, num_masks=3, fill="mean")
    torch.manual_seed(0)
    params = transform.make_params(batch)
    torch.manual_seed(0)
    out = transform(batch)
    for b in range(2):
        frames = sorted(drawn(params, b))
        assert frames and torch.allclose(out[b, :, frames], batch[b].mean().expand(1, len(frames), 10))
        kept = sorted(set(range(20)) - set(frames))
        assert torch.equal(out[b, :, kept], batch[b, :, kept])


@pytest.mark.parametrize(
    "transform,bad,expected",
    [
        (Resample(16000, 8000), torch.zeros(100, dtype=torch.int16), "float waveform"),
        (Resample(16000, 8000), torch.zeros(0), "float waveform"),
        (LogMelSpectrogram(16000), torch.tensor(1.0), "float waveform"),
        (TimeMasking(5), torch.zeros(10), "spectrogram"),
        (TimeMasking(5), torch.zeros(2, 1, 1, 10, 8), "spectrogram"),
        (FrequencyMasking(5), torch.zeros(10, 8, dtype=torch.long), "spectrogram"),
    ],
)
def test_bad_inputs_raise_layout_errors_naming_layout_and_input(transform, bad, expected):
    with pytest.raises(LayoutError, match=expected) as info:
        transform(bad)
    assert type(transform).__name__ in str(info.value) and str(list(bad.shape)) in str(info.value)


@pytest.mark.parametrize(
    "transform,args,parameter",
    [
        (Resample, {"orig_freq": 0, "new_freq": 16000}, "orig_freq"),
        (Resample, {"orig_freq": 16000, "new_freq": -8000}, "new_freq"),
        (MelSpectrogram, {"sample_rate": 16000, "hop_length": 0}, "hop_length"),
        (LogMelSpectrogram, {"sample_rate": 16000, "f_max": 9000}, "f_max"),
        (LogMelSpectrogram, {"sample_rate": 16000, "eps": 0.0}, "eps"),
        (TimeMasking, {"max_width": -1}, "max_width"),
        (TimeMasking, {"max_width": 5, "p": 1.5}, "p must"),
        (FrequencyMasking, {"max_width": 5, "num_masks": -1}, "num_masks"),
        (FrequencyMasking, {"max_width": 5, "fill": "median"}, "fill"),
    ],
)
def test_bad_parameters_raise_config_errors_naming_class_and_parameter(transform, args, parameter):
    with pytest.raises(ConfigError, match=rf"^{transform.__name__}: .*{parameter}"):
        transform(**args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    waveform = torch.stack([tone(440, 16000, 16000), tone(3000, 16000, 16000)])
    pipeline = torch.nn.Sequential(Resample(16000, 8000), LogMelSpectrogram(8000, n_mels=32, hop_length=80))
    spectrogram_cpu = pipeline(waveform)
    spectrogram_cuda = pipeline(waveform.cuda())
    torch.testing.assert_close(spectrogram_cuda.cpu(), spectrogram_cpu, atol=1e-3, rtol=1e-4)
    batch = spectrogram_cpu.reshape(2, 1, *spectrogram_cpu.shape[-2:])
    masks = torch.nn.Sequential(TimeMasking(10, num_masks=2), FrequencyMasking(6, num_masks=2, fill="mean"))
    torch.manual_seed(7)
    masked_cpu = masks(batch)
    torch.manual_seed(7)
    masked_cuda = masks(batch.cuda())
    assert torch.equal(masked_cuda.cpu() != batch, masked_cpu != batch)
    torch.testing.assert_close(masked_cuda.cpu(), masked_cpu)
