"""Export to ExecuTorch programs, fp32 and int8, run by ExecuTorch's runtime on real clips."""

from __future__ import annotations

import json

import pytest
import torch
from clips import clip_of
from torch import nn

from vidray.deploy import DeployBundle, export, load_program
from vidray.errors import DeployError
from vidray.models import create_model

FRAMES, SIZE = 4, 64


def small_x3d() -> nn.Module:
    """X3D's blocks (every kind, at a third of X3D-S's depth) at a small input, returning logits
    (no softmax), randomly initialised."""
    torch.manual_seed(0)
    return create_model("create_x3d", num_classes=10, input_clip_length=FRAMES, input_crop_size=SIZE,
                        depth_factor=0.5, head_activation=None).eval()


@pytest.fixture(scope="module")
def clips(val_videos) -> list[torch.Tensor]:
    return [clip_of(path, FRAMES, SIZE) for path in val_videos]


@pytest.fixture(scope="module")
def bundles(clips):
    model = small_x3d()
    fp32 = export(model, clips[0], quantize="fp32", metadata={"model": "create_x3d"})
    int8 = export(model, clips[0], quantize="int8", calibration=clips[:4], metadata={"model": "create_x3d"})
    return model, fp32, int8


def test_the_fp32_program_computes_what_the_model_computes(bundles, clips, tmp_path):
    model, fp32, _ = bundles
    program = load_program(fp32.save(str(tmp_path / "fp32")))
    with torch.no_grad():
        for clip in clips:
            torch.testing.assert_close(program(clip)[0], model(clip), atol=1e-4, rtol=1e-4)


def test_nearly_all_work_runs_in_xnnpack(bundles):
    _, fp32, int8 = bundles
    for bundle in (fp32, int8):
        delegation = bundle.metadata["delegation"]
        assert delegation["work_fraction"] >= 0.95, delegation
        assert delegation["partitions"] <= 4, delegation  # not split into pieces around unsupported ops


def test_the_int8_program_is_smaller_and_agrees_with_the_model_on_real_clips(bundles, clips, tmp_path):
    model, fp32, int8 = bundles
    assert int8.size_bytes * 3 < fp32.size_bytes
    program = load_program(int8.save(str(tmp_path / "int8")))
    with torch.no_grad():
        agree = [int(program(clip)[0].argmax()) == int(model(clip).argmax()) for clip in clips]
    print(f"\nint8 program top-1 agreement with fp32 eager: {sum(agree)}/{len(agree)} real clips")
    assert sum(agree) >= 0.75 * len(agree)
    assert int8.metadata["quantization"]["weights"] == "int8 symmetric per-channel"
    assert int8.metadata["calibration"]["batches"] == 4 and len(int8.metadata["calibration"]["sha256"]) == 64


def test_a_saved_bundle_records_its_hash_specs_and_versions_and_is_never_overwritten(bundles, tmp_path):
    _, fp32, _ = bundles
    folder = fp32.save(str(tmp_path / "bundle"))
    record = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert record["sha256"] == fp32.sha256 and record["inputs"][0]["shape"] == [1, 3, FRAMES, SIZE, SIZE]
    assert set(record["metadata"]["versions"]) == {"torch", "executorch", "torchao", "vidray"}
    assert DeployBundle.load(folder).program == fp32.program
    with pytest.raises(DeployError, match="already holds program.pte"):
        fp32.save(folder)


def test_an_altered_program_is_refused_by_its_hash_before_it_runs(bundles, tmp_path):
    _, fp32, _ = bundles
    folder = tmp_path / "altered"
    fp32.save(str(folder))
    data = bytearray((folder / "program.pte").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "program.pte").write_bytes(bytes(data))
    with pytest.raises(DeployError, match="does not match the recorded"):
        load_program(str(folder))
    with pytest.raises(DeployError, match="does not match the recorded"):
        load_program(str(folder / "program.pte"), sha256=fp32.sha256)


def test_inputs_that_do_not_match_the_spec_are_refused_naming_the_expected_shape(bundles, tmp_path):
    _, fp32, _ = bundles
    program = load_program(fp32.save(str(tmp_path / "spec")))
    with pytest.raises(DeployError, match=r"input 0 \(input_0\): expected \[1, 3, 4, 64, 64\] float32, got \[1, 3, 8, 64, 64\]"):
        program(torch.zeros(1, 3, 8, SIZE, SIZE))
    with pytest.raises(DeployError, match="takes 1 input"):
        program()
    bare = load_program(str(tmp_path / "spec" / "program.pte"))  # spec read from the program itself
    assert bare.inputs[0].shape == (1, 3, FRAMES, SIZE, SIZE) and bare.inputs[0].dtype == "float32"


def test_bad_calibration_is_an_error_before_any_work(clips):
    model = small_x3d()
    with pytest.raises(DeployError, match="needs calibration inputs"):
        export(model, clips[0], quantize="int8")
    with pytest.raises(DeployError, match="calibration set is empty"):
        export(model, clips[0], quantize="int8", calibration=[])
    with pytest.raises(DeployError, match=r"calibration batch 1: .*does not match the example"):
        export(model, clips[0], quantize="int8", calibration=[clips[0], torch.zeros(1, 3, 8, SIZE, SIZE)])
    with pytest.raises(DeployError, match="quantize: 'int4' is not one of"):
        export(model, clips[0], quantize="int4")


def test_a_model_torch_export_cannot_trace_fails_naming_the_model():
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # control flow on a value: no single graph
                return x * 2
            return x

    with pytest.raises(DeployError, match="DataDependent: torch.export cannot trace the model"):
        export(DataDependent(), torch.ones(1, 3, 2, 8, 8), quantize="fp32")
