"""Checkpoint loading: .pyth round trips, safe loading, and mismatch reports that name the keys."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from vidray.errors import CheckpointError
from vidray.models.checkpoint import extract_state_dict, load_checkpoint, load_weights, save_checkpoint


def built(classes: int = 5) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.Flatten(), nn.Linear(4, classes))


def test_pyth_round_trip_restores_the_weights_exactly(tmp_path):
    source = built()
    with torch.no_grad():
        source[1].running_mean.uniform_()
    path = tmp_path / "model.pyth"
    save_checkpoint(source, path, epoch=3)

    stored = torch.load(path, weights_only=True)
    assert stored["epoch"] == 3 and set(stored["model_state"]) == set(source.state_dict())
    target = built()
    with torch.no_grad():
        for p in target.parameters():
            p.zero_()
    load_weights(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_checkpoint_round_trip_through_s3(s3_bucket):
    source = built()
    uri = f"{s3_bucket}/runs/model.pyth"
    save_checkpoint(source, uri)
    target = load_weights(built(), uri)
    assert torch.equal(target[0].weight, source[0].weight)


def test_a_checkpoint_that_needs_pickle_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pyth"
    torch.save({"model_state": built().state_dict(), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused.*weights_only=True"):
        load_checkpoint(path)
    assert not marker.exists()


def test_mismatched_checkpoint_lists_missing_unexpected_and_misshaped_keys(tmp_path):
    state = built().state_dict()
    state["0.weight"] = torch.zeros(8, 3, 3, 3, 3)
    del state["1.running_var"]
    state["extra.bias"] = torch.zeros(2)
    path = tmp_path / "other.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(built(), path)
    message = str(info.value)
    assert "missing (1): 1.running_var" in message
    assert "unexpected (1): extra.bias" in message
    assert "0.weight: checkpoint [8, 3, 3, 3, 3] vs model [4, 3, 3, 3, 3]" in message


@pytest.mark.parametrize(
    "wrapper",
    [
        lambda sd: {"model_state": sd, "epoch": 1},
        lambda sd: {"state_dict": sd},
        lambda sd: sd,
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["pyth", "lightning", "bare", "ddp-prefix"],
)
def test_state_dict_is_found_in_the_common_checkpoint_layouts(wrapper):
    state = built().state_dict()
    assert extract_state_dict(wrapper(state)).keys() == state.keys()


def test_a_file_that_is_not_a_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "notes.pyth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pyth"):
        load_checkpoint(path)


def test_a_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="absent.pyth"):
        load_checkpoint(tmp_path / "absent.pyth")


def test_a_dict_without_weights_lists_its_keys(tmp_path):
    with pytest.raises(CheckpointError, match="top-level keys: cfg, epoch"):
        extract_state_dict({"epoch": 1, "cfg": "x"}, "run.pyth")


def test_save_never_leaves_half_a_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "model.pyth"
    save_checkpoint(built(), path)
    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        save_checkpoint(built(), path, bad=lambda: None)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pyth"]
