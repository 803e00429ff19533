"""MoViNet streaming as an ExecuTorch program: chunk by chunk, the state carried through program inputs/outputs."""

from __future__ import annotations

import pytest
import torch
from clips import clip_of

from vidray.deploy import ProgramStream, StreamStep, export_stream, load_program
from vidray.errors import DeployError
from vidray.models import create_model

FRAMES, CHUNK, SIZE = 8, 2, 64


@pytest.fixture(scope="module")
def model():
    """MoViNet-A0-Stream with the first block of each stage: every kind of stream state (causal
    convolution buffers of 3 and 5 frames, SE and head running means), a third of the export time."""
    import dataclasses

    from torch import nn

    from vidray.models.movinet import HardSigmoid, create_movinet
    from vidray.models.movinet_config import MOVINET_CONFIGS

    a0 = MOVINET_CONFIGS["a0"]
    short = dataclasses.replace(a0, stages=tuple(dataclasses.replace(stage, blocks=stage.blocks[:1]) for stage in a0.stages))
    torch.manual_seed(0)
    return create_movinet(short, causal=True, conv_type="2plus1d", activation=nn.Hardswish,  # movinet_a0_stream's
                          gate_activation=HardSigmoid, num_classes=10).eval()


@pytest.fixture(scope="module")
def clips(val_videos) -> list[torch.Tensor]:
    return [clip_of(path, FRAMES, SIZE, normalise=False) for path in val_videos]


@pytest.fixture(scope="module")
def bundles(model, clips, tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    fp32 = export_stream(model, chunk_frames=CHUNK, frame_size=SIZE, quantize="fp32")
    int8 = export_stream(model, chunk_frames=CHUNK, frame_size=SIZE, calibration=clips[:2])
    return fp32, int8, fp32.save(str(root / "fp32")), int8.save(str(root / "int8"))


def stream_logits(stream, clip: torch.Tensor) -> list[torch.Tensor]:
    return [stream(clip[:, :, start:start + CHUNK]) for start in range(0, FRAMES, CHUNK)]


def test_the_state_is_named_program_inputs_and_outputs_in_the_models_order(model, bundles):
    fp32, *_ = bundles
    keys = list(model.state_keys)
    assert [spec.name for spec in fp32.inputs] == ["chunk", *keys]
    assert [spec.name for spec in fp32.outputs] == ["logits", *keys]
    assert fp32.metadata["stream"] == {"chunk_frames": CHUNK, "state": keys}
    assert fp32.inputs[0].shape == (1, 3, CHUNK, SIZE, SIZE) and fp32.inputs[1].dtype == "int64"


def test_the_fp32_program_streamed_chunk_by_chunk_matches_the_eager_stream(model, bundles, clips):
    _, _, fp32_folder, _ = bundles
    stream = ProgramStream(load_program(fp32_folder))
    for clip in clips[:3]:
        stream.reset()
        state = model.init_state(1, SIZE)
        with torch.no_grad():
            for chunk, got in zip(clip.split(CHUNK, dim=2), stream_logits(stream, clip)):
                expected, state = model(chunk, state)
                torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        with torch.no_grad():  # and the last chunk's logits are the whole clip's
            torch.testing.assert_close(got, model(clip), atol=1e-4, rtol=1e-4)


def test_the_int8_stream_program_agrees_with_the_eager_model_on_real_clips(model, bundles, clips):
    fp32, int8, _, int8_folder = bundles
    assert int8.size_bytes * 3 < fp32.size_bytes
    assert int8.metadata["delegation"]["work_fraction"] >= 0.95
    stream = ProgramStream(load_program(int8_folder))
    agree = []
    with torch.no_grad():
        for clip in clips:
            stream.reset()
            agree.append(int(stream_logits(stream, clip)[-1].argmax()) == int(model(clip).argmax()))
    print(f"\nint8 stream program top-1 agreement with fp32 eager: {sum(agree)}/{len(agree)} real clips")
    assert sum(agree) >= 0.75 * len(agree)


def test_a_base_model_or_a_bad_calibration_clip_is_refused_before_any_work(model):
    with pytest.raises(DeployError, match="causal"):
        StreamStep(create_model("movinet_a0", num_classes=10))
    with pytest.raises(DeployError, match="whole number of 2-frame chunks"):
        export_stream(model, chunk_frames=CHUNK, frame_size=SIZE, calibration=[torch.zeros(1, 3, 5, SIZE, SIZE)])
    with pytest.raises(DeployError, match=r"expected \[1, 3, T, 64, 64\]"):
        export_stream(model, chunk_frames=CHUNK, frame_size=SIZE, calibration=[torch.zeros(1, 3, 4, 32, 32)])
