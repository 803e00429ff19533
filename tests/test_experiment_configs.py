"""The configs in experiments/configs/: they validate, and the recipes keep their published numbers.

Nothing here trains or reads data: a config validates without touching its data, the transforms
run on a random uint8 clip, and the models are built without weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from vidray.config import load_config, read_config_file
from vidray.data.config import DataConfig
from vidray.ingest.prepare import PrepareConfig
from vidray.models.factory import create_model, spec_of
from vidray.models.registry import KINETICS_MEAN, KINETICS_STD
from vidray.train.config import ExperimentConfig
from vidray.train.experiment import load_experiment
from vidray.train.inputs import ClipToModelInput
from vidray.train.ssl import views_per_sample
from vidray.transforms.compose import build_transform

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
ALL_YAML = sorted([*CONFIGS.glob("*.yaml"), *CONFIGS.glob("*.yml")])
PREPARE = [path for path in ALL_YAML if path.name.startswith("prepare_")]
FARMS = [path for path in ALL_YAML if path.name.startswith("farm_")]
# Experiment configs are the files whose top level names only ExperimentConfig fields.
EXPERIMENTS = [
    path
    for path in ALL_YAML
    if path not in PREPARE + FARMS and (keys := set(read_config_file(path))) and keys <= set(ExperimentConfig.model_fields)
]


@dataclass(frozen=True)
class Published:
    """A recipe's numbers as its source gives them (each YAML's header names the source file)."""

    global_batch: int  # clips per optimizer step, all machines together
    lr: float  # at that global batch
    epochs: int
    frames: int  # DATA.NUM_FRAMES (the fast pathway's for SlowFast)
    train_crop: int  # DATA.TRAIN_CROP_SIZE
    test_crop: int  # DATA.TEST_CROP_SIZE
    test_views: int  # TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS


# facebookresearch/SlowFast configs; TRAIN.BATCH_SIZE and BASE_LR there are per 8-GPU machine.
PUBLISHED = {
    # Kinetics/X3D_S.yaml: 128 clips at lr 0.1 per machine, trained on 16 machines ("# 16 machine").
    "kinetics400_x3d_s.yaml": Published(2048, 1.6, 300, 13, 160, 182, 30),
    # Kinetics/SLOWFAST_8x8_R50.yaml: one machine.
    "kinetics400_slowfast_r50.yaml": Published(64, 0.1, 196, 32, 224, 256, 30),
    # Kinetics/MVIT_B_16x4_CONV.yaml: 16 clips at lr 1e-4 per machine, lr linear in machines; 8 machines.
    "kinetics400_mvit_b.yaml": Published(128, 8e-4, 200, 16, 224, 224, 5),
    # contrastive_ssl/finetune_ucf_Slow_R50_syn0.yaml's schedule with X3D-S's input (Kinetics/X3D_S.yaml).
    "ucf101_x3d_s.yaml": Published(64, 0.005, 200, 13, 160, 182, 30),
    # SSv2/pytorchvideo/SLOWFAST_8x8_R50.yaml: one machine.
    "ssv2_slowfast_r50.yaml": Published(64, 0.1, 30, 32, 224, 256, 3),
    # Charades/pytorchvideo/SLOWFAST_8x8_R50.yaml: one machine.
    "charades_slowfast_r50.yaml": Published(64, 0.25, 60, 32, 224, 256, 30),
    # contrastive_ssl/linear_k400_Slow_8x8_R50_syn0.yaml and finetune_ucf_Slow_R50_syn0.yaml: one machine.
    "kinetics400_linear_slow_r50.yaml": Published(64, 0.5, 60, 8, 224, 256, 30),
    "ucf101_finetune_slow_r50.yaml": Published(64, 0.005, 200, 8, 224, 256, 30),
}


@dataclass(frozen=True)
class PublishedSSL:
    """A pretraining recipe's numbers (contrastive_ssl/{SimCLR,MoCo,BYOL}_SlowR50_8x8.yaml): per 8-GPU
    machine 64 videos at BASE_LR, lr linear in machines; the recipes use 8 machines."""

    task: str
    views: int  # TRAIN_CROP_NUM_TEMPORAL (rho)
    optimizer: str
    lr_per_machine: float
    task_args: dict
    clip: tuple[int, int, int, int] = (3, 8, 224, 224)  # Slow R50 8x8


SSL_PUBLISHED = {
    "kinetics400_simclr_slow_r50.yaml": PublishedSSL("simclr", 4, "lars", 1.2, {"temperature": 0.1, "mlp_dims": [2048, 2048, 128]}),
    "kinetics400_byol_slow_r50.yaml": PublishedSSL("byol", 2, "lars", 0.6, {"mlp_dims": [4096, 256], "momentum": 0.996}),
    "kinetics400_moco_slow_r50.yaml": PublishedSSL("moco", 4, "sgd", 0.1, {"temperature": 0.1, "momentum": 0.994}),
    # The BYOL recipe with X3D-S's input (Kinetics/X3D_S.yaml: 13 frames, 160 crops); no X3D SSL recipe is published.
    "kinetics400_byol_x3d_s.yaml": PublishedSSL("byol", 2, "lars", 0.6, {"mlp_dims": [4096, 256], "momentum": 0.996},
                                                (3, 13, 160, 160)),
}
SYNTHETIC = ("x3d_xs_synthetic.yaml", "c2d_synthetic.yaml")
RAW_FRAME = (240, 320)  # height, width of a decoded source frame (UCF101 / SSv2 size: the crops upscale it)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _recipe(name: str) -> ExperimentConfig:
    return load_experiment(str(CONFIGS / name))[0]


def _pipeline_clip(data: DataConfig, aug_index: int = 0) -> torch.Tensor:
    """What the data pipeline hands the trainer for one decoded clip: the config's transform applied
    to a random uint8 ``[3, T, H, W]`` clip (all frames of a window when ``frames_per_clip`` is unset)."""
    height, width = (data.synthetic.height, data.synthetic.width) if data.synthetic is not None else RAW_FRAME
    frames = data.frames_per_clip or 48
    clips = [torch.randint(0, 256, (3, frames, height, width), dtype=torch.uint8) for _ in range(views_per_sample(data))]
    sample = {"video": clips if len(clips) > 1 else clips[0], "aug_index": aug_index}
    transform = build_transform(data.transform) if data.transform is not None else (lambda s: s)
    return transform(sample)["video"]  # a list of views for the self-supervised recipes


def _temporal_convs(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] > 1]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_config_validates(path: Path) -> None:
    load_experiment(str(path))  # raises ConfigError listing every bad field


@pytest.mark.parametrize("path", PREPARE, ids=lambda p: p.name)
def test_prepare_config_validates(path: Path) -> None:
    load_config(path, PrepareConfig)


@pytest.mark.parametrize("path", FARMS, ids=lambda p: p.name)
def test_farm_config_validates(path: Path) -> None:
    from vidray.farm import load_farm_config

    assert load_farm_config(path).devices


def test_every_recipe_is_found_as_an_experiment_config() -> None:
    found = {path.name for path in EXPERIMENTS}
    assert set(PUBLISHED) | set(SYNTHETIC) <= found


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_recipe_keeps_published_global_batch_lr_and_epochs(name: str) -> None:
    config, published = _recipe(name), PUBLISHED[name]
    global_batch = config.batch_size * config.scaling.num_workers * config.grad_accum_steps
    assert (global_batch, config.epochs) == (published.global_batch, published.epochs)
    assert float(config.optimizer.args["lr"]) == pytest.approx(published.lr)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_recipe_trains_on_gpus_from_real_data(name: str) -> None:
    config = _recipe(name)
    assert config.scaling.use_gpu
    for data in (config.data.train, config.data.val):
        assert data.synthetic is None and data.data_path


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_recipe_tests_with_the_published_views(name: str) -> None:
    sampler = _recipe(name).data.val.clip_sampler
    assert sampler.name == "constant_clips_per_video"
    views = sampler.args["clips_per_video"] * sampler.args.get("augs_per_clip", 1)
    assert views == PUBLISHED[name].test_views


@pytest.mark.parametrize("name", sorted(PUBLISHED) + list(SYNTHETIC))
def test_pipeline_clips_stay_uint8_at_the_model_input_size(name: str) -> None:
    config = _recipe(name)
    if name in PUBLISHED:
        published = PUBLISHED[name]
        expected = {"train": (published.frames, published.train_crop), "val": (published.frames, published.test_crop)}
    else:
        args = config.model.args
        expected = dict.fromkeys(("train", "val"), (args["input_clip_length"], args["input_crop_size"]))
    torch.manual_seed(0)
    for split, data in (("train", config.data.train), ("val", config.data.val)):
        for aug_index in range(3 if split == "val" else 1):  # every spatial crop of the test
            clip = _pipeline_clip(data, aug_index)
            frames, crop = expected[split]
            assert clip.dtype == torch.uint8, (split, clip.dtype)  # normalisation happens on the device
            assert tuple(clip.shape) == (3, frames, crop, crop), (split, tuple(clip.shape))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_model_builds_and_takes_the_pipelines_clips(path: Path) -> None:
    config = load_experiment(str(path))[0]
    args = {k: v for k, v in config.model.args.items() if k != "pretrained"}  # no downloads here
    model = create_model(config.model.name, num_classes=5, **args).eval()
    spec = spec_of(config.model.name)
    to_input = ClipToModelInput(KINETICS_MEAN, KINETICS_STD, "cpu", spec.input if spec is not None else None)
    torch.manual_seed(0)
    for data in filter(None, (config.data.train, config.data.val)):
        clip = _pipeline_clip(data)
        batch = to_input((clip[0] if isinstance(clip, list) else clip).unsqueeze(0))
        if spec is not None:
            spec.input.check(batch, config.model.name)  # zoo models are too big to run here
        else:
            with torch.no_grad():
                assert model(batch).shape == (1, 5)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_recipe_runs_on_two_cpu_workers_with_synthetic_data(name: str) -> None:
    config = _recipe(name)
    assert (config.scaling.num_workers, config.scaling.use_gpu) == (2, False)
    train, val = config.data.train, config.data.val
    assert (train.data_path, val.data_path) == (None, None)
    assert train.synthetic is not None and val.synthetic == train.synthetic
    assert (train.split, val.split) == ("train", "val")


def test_c2d_control_differs_from_x3d_only_in_its_temporal_kernels() -> None:
    x3d, c2d = (_recipe(name) for name in SYNTHETIC)
    kernels = ("stem_conv_kernel_size", "stage_conv_kernel_size")
    assert {k: v for k, v in c2d.model.args.items() if k not in kernels} == x3d.model.args
    ignored = {"name": True, "model": True}
    assert c2d.model_dump(exclude=ignored) == x3d.model_dump(exclude=ignored)
    c2d_model = create_model(c2d.model.name, num_classes=4, **c2d.model.args)
    x3d_model = create_model(x3d.model.name, num_classes=4, **x3d.model.args)
    assert _temporal_convs(c2d_model) == [] and _temporal_convs(x3d_model)


def test_embedded_defaults_are_the_x3d_synthetic_config_written_out(monkeypatch) -> None:
    monkeypatch.delenv("VIDRAY_DATA", raising=False)
    written, _ = load_experiment(str(CONFIGS / "x3d_xs_synthetic.yaml"))
    embedded = ExperimentConfig().model_dump(mode="json")
    assert {**written.model_dump(mode="json"), "name": embedded["name"]} == embedded


@pytest.mark.parametrize("name", sorted(SSL_PUBLISHED))
def test_pretraining_recipe_keeps_the_published_method_views_and_schedule(name: str) -> None:
    config, published = _recipe(name), SSL_PUBLISHED[name]
    machines = 8
    assert config.batch_size * config.scaling.num_workers == 64 * machines and config.scaling.use_gpu
    assert (config.task.name, views_per_sample(config.data.train), config.optimizer.name) == (
        published.task, published.views, published.optimizer)
    assert float(config.optimizer.args["lr"]) == pytest.approx(published.lr_per_machine * machines)
    assert {k: config.task.args[k] for k in published.task_args} == published.task_args
    assert (config.epochs, config.scheduler.args["warmup_epochs"]) == (200, 35)
    views = _pipeline_clip(config.data.train)
    assert len(views) == published.views and all(v.shape == published.clip and v.dtype == torch.uint8 for v in views)
    assert config.data.val is None and config.tracking.register_model  # the encoder is registered
