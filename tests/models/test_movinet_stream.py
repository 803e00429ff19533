"""Streaming MoViNets: chunked equals whole clip, explicit state, reset, gradients across chunks, export."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import randomize_norms

from vidray.errors import ConfigError, LayoutError
from vidray.models.movinet import (
    FRAMES,
    MoViNetStream,
    create_movinet,
    movinet_a0,
    movinet_a0_stream,
    movinet_a2_stream,
)

SIZE = 64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These inputs are tiny: intra-op threads cost more in synchronisation than they save on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random norms, non-zero ReZero scales (a fresh model's residual branches are off: alpha = 0) and a
    classifier with unit-scale outputs (the zoo's N(0, 0.01) init makes logits too small to tell apart)."""
    randomize_norms(model, seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks():
            block.alpha.copy_(torch.rand((), generator=generator) + 0.5)
        for linear in (model.head.dense, model.head.proj):
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) / linear.in_features**0.5)
    return model.eval()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomized(movinet_a0_stream())


@pytest.fixture(scope="module")
def clip():
    return torch.rand(2, 3, 8, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def stream(model, clip, sizes, **kwargs):
    state = model.init_state(clip.shape[0], tuple(clip.shape[-2:]))
    for chunk in clip.split(sizes, dim=2):
        logits, state = model(chunk, state, **kwargs)
    return logits, state


@pytest.mark.parametrize("sizes", [[8], [1] * 8, [3, 5], [2, 1, 4, 1]], ids=["whole", "frames", "3+5", "2+1+4+1"])
@torch.no_grad()
def test_chunks_give_the_logits_of_the_whole_clip(model, clip, sizes):
    logits, state = stream(model, clip, sizes)
    torch.testing.assert_close(logits, model(clip), atol=1e-5, rtol=1e-4)
    assert state[FRAMES].item() == 8


@torch.no_grad()
def test_features_of_a_frame_ignore_later_frames_only_in_stream_models(model, clip):
    other_future = torch.cat([clip[:, :, :5], torch.rand_like(clip[:, :, 5:])], dim=2)
    for net, causal in ((model, True), (randomized(movinet_a0()), False)):
        features = []
        hook = net.head.project.register_forward_hook(lambda module, args, output: features.append(output[:, :, :5]))
        net(clip)
        net(other_future)
        hook.remove()
        assert torch.allclose(features[0], features[1], atol=1e-5) is causal


@pytest.mark.parametrize(
    ("builder", "frame_size"),
    [(movinet_a2_stream, (40, 56)), (functools.partial(create_movinet, "a0", causal=True), (33, 33))],
    ids=["a2_stream non-square", "a0 causal 3d"],
)
@torch.no_grad()
def test_other_causal_models_stream_too(builder, frame_size):
    torch.manual_seed(0)
    model = randomized(builder())
    clip = torch.rand(1, 3, 4, *frame_size)
    logits, _ = stream(model, clip, [1, 3])
    torch.testing.assert_close(logits, model(clip), atol=1e-5, rtol=1e-4)


def test_init_state_is_zero_and_lists_every_causal_layer(model):
    state = model.init_state(2, (SIZE, 48))
    assert list(state) == list(model.state_keys)
    assert state[FRAMES].dtype == torch.int64 and state[FRAMES].shape == ()
    assert all(not value.any() for value in state.values())
    assert state["head"].dtype == torch.float32  # running sums stay float32
    # A0's stage 3 opens with a 5x3x3 depthwise of stride 2: 4 past frames, kept after its spatial conv (1/16 size).
    assert state["stages.2.0.depthwise"].shape == (2, 184, 4, 4, 3)
    assert state["stages.2.1.depthwise"].shape == (2, 112, 2, 4, 3)  # 3x3x3: 2 past frames


@torch.no_grad()
def test_the_given_state_is_not_modified(model, clip):
    state = model.init_state(2, SIZE)
    _, state = model(clip[:, :, :3], state)
    before = {key: value.clone() for key, value in state.items()}
    model(clip[:, :, 3:], state)
    assert all(torch.equal(state[key], before[key]) for key in before)


@torch.no_grad()
def test_the_stream_wrapper_starts_a_new_video_after_reset(model, clip):
    first, second = clip[:1], clip[1:]
    streamer = MoViNetStream(model)
    for chunk in first.split(3, dim=2):
        streamer(chunk)
    carried_over = [streamer(chunk) for chunk in second.split(3, dim=2)][-1]
    streamer.reset()
    fresh = [streamer(chunk) for chunk in second.split(3, dim=2)][-1]
    torch.testing.assert_close(fresh, model(second), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(carried_over, fresh, atol=1e-3)


def test_the_stream_wrapper_needs_a_causal_model():
    with pytest.raises(ConfigError, match="causal"):
        MoViNetStream(movinet_a0())


@torch.no_grad()
def test_a_state_for_another_input_is_refused(model, clip):
    state = model.init_state(1, SIZE)
    with pytest.raises(LayoutError, match="another batch size or frame size"):
        model(clip, state)
    with pytest.raises(LayoutError, match=r"missing \['head'\]"):
        model(clip[:1], {k: v for k, v in state.items() if k != "head"})


@pytest.mark.parametrize("detach_state", [True, False])
def test_training_on_chunks_crosses_chunk_boundaries_only_when_asked(detach_state):
    torch.manual_seed(0)
    model = movinet_a0_stream(num_classes=5).train()
    first, second = torch.rand(2, 3, 2, 32, 32).requires_grad_(True), torch.rand(2, 3, 2, 32, 32)
    _, state = model(first, model.init_state(2, 32), detach_state=detach_state)
    logits, state = model(second, state, detach_state=detach_state)
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 3])).backward()
    assert model.head.proj.weight.grad is not None and model.stem.conv.weight.grad.abs().sum() > 0
    assert all(value.requires_grad is not detach_state for key, value in state.items() if key != FRAMES)
    if detach_state:
        assert first.grad is None
    else:
        assert first.grad.abs().sum() > 0


@torch.no_grad()
def test_the_stream_step_exports_with_its_state(model, clip):
    chunk = clip[:1, :, :2]
    state = model.init_state(1, SIZE)
    exported = torch.export.export(model, (chunk, state)).module()
    logits, next_state = exported(chunk, state)
    expected, expected_state = model(chunk, state)
    torch.testing.assert_close(logits, expected)
    logits, _ = exported(clip[:1, :, 2:4], next_state)
    torch.testing.assert_close(logits, model(clip[:1, :, 2:4], expected_state)[0])
