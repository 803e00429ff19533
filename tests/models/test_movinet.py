"""MoViNet base and stream architectures: sizes, shapes, builders, and MoViNet-pytorch's checkpoint layout.

The port's layout is checked against manifests of its state_dicts (key ->
shape, in ``data/``), dumped from MoViNet-pytorch's own model code for A0 and
A0-stream; the port's code itself is not a test dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from vidray.errors import CheckpointError, ConfigError, LayoutError
from vidray.models.movinet import (
    HardSigmoid,
    MoViNetBlock,
    create_movinet,
    movinet_a0,
    movinet_a0_stream,
)
from vidray.models.movinet_config import MOVINET_CONFIGS, MoViNetConfig, StageSpec, movinet_config
from vidray.models.movinet_port import (
    adapt_checkpoint,
    convert_port_state_dict,
    is_port_state_dict,
    port_key_to_vidray,
)
from vidray.models.registry import MODELS, model_spec

DATA = Path(__file__).parent / "data"
NAMES = [f"movinet_a{i}" for i in range(6)] + [f"movinet_a{i}_stream" for i in range(3)]
# Top-1 on Kinetics-600 of the TF release (MoViNet-pytorch's README quotes the same).
PUBLISHED_TOP1 = {
    "movinet_a0": 72.28, "movinet_a1": 76.69, "movinet_a2": 78.62, "movinet_a3": 81.79, "movinet_a4": 83.48,
    "movinet_a5": 84.27, "movinet_a0_stream": 72.05, "movinet_a1_stream": 76.45, "movinet_a2_stream": 78.40,
}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These inputs are tiny: intra-op threads cost more in synchronisation than they save on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def port_state_dict(manifest: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state_dict in MoViNet-pytorch's layout, from a manifest of its keys, shapes and dtypes."""
    generator = torch.Generator().manual_seed(seed)
    entries = json.loads((DATA / manifest).read_text())["state_dict"]
    return {
        key: torch.randn(entry["shape"], generator=generator).to(getattr(torch, entry["dtype"]))
        for key, entry in entries.items()
    }


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_the_released_architecture(name):
    with torch.device("meta"):
        model = MODELS.get(name)()
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == model_spec(name).params_m


@pytest.mark.parametrize("name", NAMES)
def test_spec_records_kinetics_600_with_unnormalised_input(name):
    spec = model_spec(name)
    assert (spec.dataset, spec.num_classes, spec.num_classes_arg) == ("Kinetics-600", 600, "num_classes")
    assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    assert spec.top1 == PUBLISHED_TOP1[name]
    assert spec.classifier == "head.proj" and spec.checkpoint_adapter is adapt_checkpoint


def test_default_inputs_follow_the_paper():
    shapes = {name: model_spec(name).input.default_shapes[0] for name in NAMES}
    assert shapes["movinet_a0"] == shapes["movinet_a1"] == shapes["movinet_a0_stream"] == (3, 50, 172, 172)
    assert shapes["movinet_a2"] == shapes["movinet_a2_stream"] == (3, 50, 224, 224)
    assert (shapes["movinet_a3"], shapes["movinet_a4"], shapes["movinet_a5"]) == (
        (3, 120, 256, 256),
        (3, 80, 290, 290),
        (3, 120, 320, 320),
    )
    assert model_spec("movinet_a0_stream").input.pathways[0].minimum[1] == 1


def test_base_and_stream_models_give_logits_for_any_frame_size():
    x = torch.rand(2, 3, 3, 37, 50)
    for model in (movinet_a0().eval(), movinet_a0_stream(num_classes=7).eval()):
        with torch.no_grad():
            logits = model(x)
        assert logits.shape == (2, model.head.proj.out_features)


def test_the_config_table_matches_the_tf_release_widths():
    a0 = movinet_config("A0")
    assert [s.out_channels for s in a0.stages] == [8, 32, 56, 56, 104]
    assert [len(s.blocks) for s in a0.stages] == [1, 3, 3, 4, 4]
    assert [len(c.stages[-1].blocks) for c in MOVINET_CONFIGS.values()] == [4, 7, 7, 10, 13, 18]
    assert [c.head_channels for c in MOVINET_CONFIGS.values()] == [480, 600, 640, 744, 856, 992]


def test_a_custom_config_builds():
    tiny = MoViNetConfig("tiny", 8, (StageSpec(16, 2, (movinet_config("a0").stages[1].blocks[0],)),), 32, 64)
    model = create_movinet(tiny, num_classes=3).eval()
    assert model(torch.rand(1, 3, 2, 16, 16)).shape == (1, 3)


def test_builder_uses_the_injected_norm_and_activations():
    model = create_movinet("a0", norm=nn.InstanceNorm3d, activation=nn.ReLU, gate_activation=nn.Hardsigmoid)
    kinds = {type(m) for m in model.modules()}
    assert {nn.InstanceNorm3d, nn.ReLU, nn.Hardsigmoid} <= kinds
    assert nn.BatchNorm3d not in kinds and nn.Sigmoid not in kinds
    assert type(model.head.act) is nn.SiLU  # the head's own activation is injected separately
    assert model(torch.rand(1, 3, 2, 32, 32)).shape == (1, 600)


def test_stream_models_use_2plus1d_hard_swish_and_the_keras_hard_sigmoid():
    model = movinet_a0_stream()
    block = model.stages[2][0]
    assert isinstance(block, MoViNetBlock) and model.causal
    assert block.depthwise.conv.kernel_size == (1, 3, 3) and block.depthwise.temporal_conv.kernel_size == (5, 1, 1)
    assert model.stages[4][1].depthwise.temporal_conv is None  # 1x5x5: nothing to split
    assert isinstance(block.depthwise.act, nn.Hardswish) and isinstance(block.se.gate, HardSigmoid)
    assert block.se.fc1.in_channels == 2 * 184  # causal SE: running mean and frame mean side by side
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0])
    torch.testing.assert_close(HardSigmoid()(x), torch.tensor([0.0, 0.3, 0.5, 0.7, 1.0]))


def test_bad_builder_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="'a9' is unknown"):
        create_movinet("a9")
    with pytest.raises(ConfigError, match="conv_type"):
        create_movinet("a0", conv_type="4d")
    with pytest.raises(ConfigError, match="num_classes"):
        create_movinet("a0", num_classes=0)


def test_a_base_model_has_no_streaming_state():
    model = movinet_a0().eval()
    with pytest.raises(ConfigError, match="non-causal"):
        model.init_state(1, 32)
    with pytest.raises(ConfigError, match="does not stream"):
        model(torch.rand(1, 3, 2, 32, 32), {})


def test_the_hub_input_check_reads_the_chunk_of_a_stream_call():
    model = movinet_a0_stream().eval()
    state = model.init_state(1, 32)
    with pytest.raises(LayoutError, match=r"movinet_a0_stream expects video \[B, 3, T, H, W\]"):
        model(torch.rand(1, 3, 32, 32), state)
    with torch.no_grad():
        logits, _ = model(torch.rand(1, 3, 1, 32, 32), state)
    assert logits.shape == (1, 600)


def test_compiles_without_graph_breaks():
    model = movinet_a0().eval()
    x = torch.rand(1, 3, 2, 32, 32)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize(
    ("manifest", "builder"), [("movinet_port_a0.json", movinet_a0), ("movinet_port_a0_stream.json", movinet_a0_stream)]
)
def test_port_state_dicts_map_one_to_one_onto_vidray(manifest, builder):
    port = port_state_dict(manifest)
    assert is_port_state_dict(port)
    converted = convert_port_state_dict(port)
    assert len(converted) == len(port)  # no two port keys land on one vidray key
    model = builder()
    model.load_state_dict(converted, strict=True)  # every key, every shape
    for key, value in port.items():
        torch.testing.assert_close(converted[port_key_to_vidray(key)].flatten(), value.flatten())


def test_port_keys_land_where_the_mapping_documents():
    assert port_key_to_vidray("conv1.conv_1.conv3d.weight") == "stem.conv.weight"
    assert (
        port_key_to_vidray("blocks.b2_l0.deep.conv_2.norm.running_var")
        == "stages.2.0.depthwise.temporal_norm.running_var"
    )
    assert port_key_to_vidray("blocks.b0_l0.res.1.conv_1.conv2d.weight") == "stages.0.0.shortcut.conv.weight"
    assert port_key_to_vidray("blocks.b1_l2.se.fc1.conv_1.conv2d.bias") == "stages.1.2.se.fc1.bias"
    assert port_key_to_vidray("blocks.b4_l3.alpha") == "stages.4.3.alpha"
    assert port_key_to_vidray("classifier.3.conv_1.conv3d.weight") == "head.proj.weight"
    assert port_key_to_vidray("conv7.conv_1.norm.bias") == "head.project.norm.bias"
    assert port_key_to_vidray("blocks.b0_l0.conv1.conv_1.conv3d.weight") is None
    assert port_key_to_vidray("head.proj.weight") is None


def test_a_port_checkpoint_without_batch_counters_still_loads():
    port = {k: v for k, v in port_state_dict("movinet_port_a0.json").items() if "num_batches_tracked" not in k}
    movinet_a0().load_state_dict(convert_port_state_dict(port), strict=True)


def test_foreign_keys_are_listed():
    port = port_state_dict("movinet_port_a0.json")
    port["blocks.b0_l0.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unknown keys \(1\): blocks.b0_l0.extra.weight"):
        convert_port_state_dict(port)


def test_the_adapter_leaves_vidray_state_dicts_alone():
    state = movinet_a0().state_dict()
    assert not is_port_state_dict(state)
    assert adapt_checkpoint(state).keys() == state.keys()


def test_pretrained_loads_a_port_checkpoint_file(tmp_path):
    port = port_state_dict("movinet_port_a0_stream.json", seed=1)
    path = tmp_path / "modelA0_stream_statedict_v3"
    torch.save(port, path)
    model = movinet_a0_stream(pretrained=str(path))
    torch.testing.assert_close(model.head.proj.weight, port["classifier.3.conv_1.conv2d.weight"].flatten(1))
    temporal = port["blocks.b2_l0.deep.conv_2.conv2d.weight"]  # [184, 1, 5, 1] in the port, a Conv2d's
    torch.testing.assert_close(model.stages[2][0].depthwise.temporal_conv.weight, temporal.unsqueeze(-1))
