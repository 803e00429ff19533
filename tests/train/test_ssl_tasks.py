"""The self-supervised tasks in one process: steps, momentum targets, the saved encoder, config checks."""

from __future__ import annotations

import pytest
import torch

from vidray.config import load_config
from vidray.errors import CheckpointError, ConfigError
from vidray.models import create_model
from vidray.ssl import LinearProbe, load_encoder_state
from vidray.train import TASKS, ExperimentConfig, TaskContext

X3D = {"input_clip_length": 4, "input_crop_size": 32, "width_factor": 1.0, "depth_factor": 1.0}
TASK_ARGS = {
    "simclr": {"mlp_dims": [32, 16]},
    "moco": {"mlp_dims": [32, 16], "queue_size": 32},
    "byol": {"mlp_dims": [32, 16], "predictor_inner": 32},
}


def model():
    torch.manual_seed(0)
    return create_model("create_x3d", num_classes=3, **X3D)


def set_up(name: str):
    task = TASKS.build(name, **TASK_ARGS[name])
    module = task.setup(model(), TaskContext(3, None, None, torch.device("cpu")))
    return task, module


def views_batch(batch: int = 4, views: int = 2) -> dict[str, torch.Tensor]:
    return {"video": torch.randint(0, 256, (batch, views, 3, 4, 32, 32), dtype=torch.uint8),
            "label": torch.zeros(batch, dtype=torch.long)}


@pytest.mark.parametrize("name", ["simclr", "moco", "byol"])
def test_a_step_gives_a_finite_loss_with_gradients_for_the_encoder(name):
    task, module = set_up(name)
    out = task.training_step(module, views_batch(views=3))  # rho = 3 views
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.clips == 12
    encoder = task.deployable(module)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


@pytest.mark.parametrize("name", ["moco", "byol"])
def test_the_momentum_target_moves_after_an_optimizer_step_on_its_schedule(name):
    task, module = set_up(name)
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.5)
    task.training_step(module, views_batch()).loss.backward()
    optimizer.step()
    target_before = [p.clone() for p in module.backbone_mmt.parameters()]
    metrics = task.optimizer_stepped(module, step=5, total_steps=10)
    moved = [not torch.equal(a, b) for a, b in zip(target_before, module.backbone_mmt.parameters())]
    assert any(moved)
    base = TASKS.get(name)().momentum
    expected = base if name == "moco" else 1 - (1 - base) / 2  # byol: cosine schedule, halfway
    assert metrics["momentum"] == pytest.approx(expected)


def test_the_saved_encoder_gives_features_and_loads_into_a_fresh_classifier():
    task, module = set_up("simclr")
    encoder = task.deployable(module).eval()
    features = encoder(torch.randn(2, 3, 4, 32, 32))
    assert features.shape == (2, 2048)  # X3D head: pooled 2048-wide features, the classifier removed
    classifier = model()
    load_encoder_state(classifier, encoder.state_dict(), source="test")
    torch.testing.assert_close(classifier.blocks[0].conv.conv_t.weight, encoder.blocks[0].conv.conv_t.weight)


def test_an_encoder_of_another_architecture_is_refused_with_the_mismatch_named():
    other = create_model("create_x3d", num_classes=3, **{**X3D, "width_factor": 2.0})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_encoder_state(model(), other.state_dict(), source="elsewhere")


def test_a_linear_probe_trains_only_the_classifier_and_keeps_every_batch_norm_statistic():
    probe = LinearProbe(model())
    trainable = [name for name, p in probe.named_parameters() if p.requires_grad]
    assert trainable == ["model.blocks.5.proj.1.weight", "model.blocks.5.proj.1.bias"]
    probe.train()
    frozen = [m for m in probe.model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert any("blocks.5" in name for name, m in probe.model.named_modules() if m in frozen)  # X3D's head has one
    before = [m.running_mean.clone() for m in frozen]
    probe(torch.randn(2, 3, 4, 32, 32))
    for norm, mean in zip(frozen, before):
        torch.testing.assert_close(norm.running_mean, mean)


def test_the_probe_standardises_features_and_folds_into_a_plain_classifier():
    torch.manual_seed(0)
    probe = LinearProbe(model())
    probe.train()
    for _ in range(20):  # the feature statistics settle (momentum 0.1)
        probe(torch.randn(8, 3, 4, 32, 32) * 3 + 1)
    probe.eval()
    clips = torch.randn(4, 3, 4, 32, 32) * 3 + 1
    classifier = probe.classifier().eval()
    assert isinstance(classifier.blocks[5].proj, torch.nn.Linear)
    assert set(classifier.state_dict()) == set(model().state_dict())  # the architecture PyTorchVideo checkpoints have
    torch.testing.assert_close(classifier(clips), probe(clips), rtol=1e-4, atol=1e-5)
    norm = probe.model.blocks[5].proj[0].norm
    assert norm.running_var.mean() > 0 and not torch.allclose(norm.running_var, torch.ones_like(norm.running_var))


def experiment(**overrides) -> dict:
    multi = {"name": "random_multi", "args": {"clip_duration": 1.0, "num_clips": 2}}
    job = {"model": {"name": "create_x3d", "args": X3D}, "task": {"name": "simclr"},
           "data": {"train": {"clip_sampler": multi}, "val": None}}
    job.update(overrides)
    return job


def test_a_single_view_per_sample_is_refused_for_a_contrastive_task():
    job = experiment()
    job["data"]["train"]["clip_sampler"] = {"name": "random", "args": {"clip_duration": 1.0}}
    with pytest.raises(ConfigError, match="compares >= 2 views of each video, but each sample has 1"):
        load_config(job, ExperimentConfig)


def test_a_global_batch_of_one_is_refused_for_simclr():
    job = experiment(batch_size=1, scaling={"num_workers": 1})
    with pytest.raises(ConfigError, match="needs other videos in the global batch"):
        load_config(job, ExperimentConfig)


def test_a_queue_not_divisible_by_the_global_batch_is_refused():
    job = experiment(task={"name": "moco", "args": {"queue_size": 100}}, batch_size=8, scaling={"num_workers": 2})
    with pytest.raises(ConfigError, match="queue_size: 100 is not a multiple of the global batch 16"):
        load_config(job, ExperimentConfig)


def test_without_feature_norm_the_probe_trains_the_plain_classifier_on_raw_features():
    torch.manual_seed(0)
    probe = LinearProbe(model(), feature_norm=False)
    assert [n for n, p in probe.named_parameters() if p.requires_grad] == ["model.blocks.5.proj.1.weight", "model.blocks.5.proj.1.bias"]
    probe.eval()
    clips = torch.randn(2, 3, 4, 32, 32)
    classifier = probe.classifier().eval()
    torch.testing.assert_close(classifier(clips), probe(clips))
    torch.testing.assert_close(classifier.blocks[5].proj.weight, probe.model.blocks[5].proj[1].weight)
