import json

import pytest

from vidray.config import load_config
from vidray.errors import ConfigError
from vidray.jobs.decode_epoch import DecodeEpochConfig


def test_embedded_defaults_are_valid():
    config = DecodeEpochConfig()
    assert config.data.dataset == "kinetics" and config.data.synthetic is not None


def test_yaml_and_json_load_the_same_config(tmp_path):
    data = {"name": "k400", "data": {"batch_size": 4, "clip_sampler": {"name": "uniform", "args": {"clip_duration": 2}}}}
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.yaml").write_text("name: k400\ndata:\n  batch_size: 4\n  clip_sampler:\n    name: uniform\n    args: {clip_duration: 2}\n")
    assert load_config(tmp_path / "c.json", DecodeEpochConfig) == load_config(tmp_path / "c.yaml", DecodeEpochConfig)


def test_every_bad_field_is_listed_with_its_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nbatch: 3\ndata:\n  batch_size: 0\n  num_workers: -1\n  dataset: kinetic\n"
        "  clip_sampler: {name: randomm}\n  shuffle: true\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, DecodeEpochConfig)
    message = str(caught.value)
    assert message.startswith(f"{path}: 6 invalid field(s):")
    for expected in (
        "batch: unknown field",
        "data.batch_size: Input should be greater than or equal to 1",
        "data.num_workers: Input should be greater than or equal to 0",
        "data.dataset: Value error, unknown datasets entry 'kinetic'; did you mean 'kinetics'",
        "data.clip_sampler: Value error, unknown clip_samplers entry 'randomm'",
        "data.shuffle: unknown field",
    ):
        assert expected in message, message


def test_component_arguments_and_sizes_are_checked_before_any_work(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "data:\n  split: test\n  clip_sampler: {name: uniform, args: {clip_duration: 1, strid: 2}}\n"
        "  synthetic: {height: 17}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, DecodeEpochConfig)
    message = str(caught.value)
    assert "data.split: Input should be 'train' or 'val'" in message
    assert "data.clip_sampler: Value error, arguments {'clip_duration': 1, 'strid': 2} do not fit clip sampler 'uniform'" in message
    assert "data.synthetic.height: Input should be a multiple of 2" in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndata:\n  batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_config(path, DecodeEpochConfig)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml", DecodeEpochConfig)
