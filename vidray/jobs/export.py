"""``vidray export``: a trained or zoo model -> a calibrated ExecuTorch program, evaluated and registered.

The steps, each done by the layer that owns it:

1. the source: a model logged by ``vidray run`` (``models:/...`` or ``runs:/RUN_ID``,
   loaded pickle-free, with the run's config for its data and its normalisation)
   or a zoo name (``x3d_s``, ``movinet_a0_stream``; weights from ``--checkpoint``);
2. calibration clips: the training split through the evaluation transform
   (deterministic crops), converted to the model's input as in training;
3. :func:`vidray.deploy.export` (or :func:`~vidray.deploy.export_stream` for a
   causal MoViNet): fold, quantize, lower, with the delegation report;
4. evaluation: every validation clip through the eager model and through the
   program (ExecuTorch's runtime), top-1 of both and their agreement;
5. the bundle saved locally, logged beside the source model in MLflow and
   registered as a new version of ``<name>-<quantize>-<backend>``, tagged
   with size, sha256, accuracy and delegation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from vidray.data.config import DataConfig, build_dataset
from vidray.data.synthetic import default_root
from vidray.deploy import DeployBundle, ProgramStream, export, export_stream
from vidray.deploy.bundle import RECORD_FILE
from vidray.deploy.config import DeployConfig
from vidray.deploy.program import Program
from vidray.errors import ConfigError, DeployError
from vidray.io import first_unused
from vidray.models.factory import create_model, spec_of
from vidray.models.pathways import PathwaysAsArguments, PathwaysAsList
from vidray.models.registry import InputSpec, pathway
from vidray.tracking import TrackingConfig, resolve_tracking_uri
from vidray.tracking.deployments import SOURCE_MODEL_TAG, log_bundle, register_bundle
from vidray.train.config import DataSplits, ExperimentConfig
from vidray.train.inputs import ClipToModelInput
from vidray.train.trainer import RESOLVED_CONFIG

logger = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class ExportSource:
    """A model to export and what feeding it takes."""

    module: nn.Module
    name: str  # the stem of the registered model's name
    model_uri: str  # where it came from: models:/..., or zoo:<name>
    input_spec: InputSpec
    mean: Sequence[float]
    std: Sequence[float]
    data: DataSplits
    seed: int = 0
    classes: Sequence[str] | None = None  # the dataset's class names the model was trained on; None: unknown
    run_id: str | None = None  # the run that made it (the bundle is logged there)

    @property
    def streams(self) -> bool:
        return bool(getattr(self.module, "causal", False))


@dataclasses.dataclass(frozen=True)
class ExportResult:
    bundle: DeployBundle
    folder: str | None  # the saved bundle; None when MLflow holds the only copy
    evaluation: dict[str, Any]
    run_id: str | None = None
    artifact_uri: str | None = None
    registered: str | None = None  # "name/version"


# ---------------------------------------------------------------------- sources
def logged_source(model_uri: str, tracking_uri: str, config: ExperimentConfig | None = None) -> ExportSource:
    """A model logged by ``vidray run`` (``models:/ID``, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
    ``runs:/RUN_ID``); its data and seed from ``config``, else from the config its run logged."""
    from vidray.tracking.models import read_logged_model

    model_uri = _logged_model_uri(model_uri, tracking_uri)
    logged = read_logged_model(model_uri, tracking_uri=tracking_uri)
    module = logged.module.program if isinstance(logged.module, PathwaysAsList) else logged.module  # positional
    if not logged.input_shapes or "mean" not in logged.metadata:
        raise DeployError(f"{model_uri}: its MLmodel records no input signature or normalisation; "
                          "only models logged by `vidray run` can be exported from MLflow")
    if config is None:
        config = _run_config(logged.run_id, tracking_uri, model_uri)
    if len(logged.input_shapes) > 2:
        raise DeployError(f"{model_uri}: {len(logged.input_shapes)} inputs; vidray export feeds one video or "
                          "SlowFast's two pathways")
    names = ("video",) if len(logged.input_shapes) == 1 else ("slow", "fast")
    spec = InputSpec(tuple(pathway(shape[1], tuple(shape[2:]), channels=shape[0], name=name)
                           for shape, name in zip(logged.input_shapes, names)))
    return ExportSource(
        module=module, name=config.tracking.register_model or config.name, model_uri=model_uri,
        input_spec=spec, mean=logged.metadata["mean"], std=logged.metadata["std"], data=config.data,
        seed=config.seed, classes=logged.metadata.get("classes") or None, run_id=logged.run_id,
    )


def zoo_source(name: str, checkpoint: str | None = None, data: DataSplits | None = None, seed: int = 0) -> ExportSource:
    """A zoo model by hub name (random weights unless ``checkpoint``); data defaults to the synthetic
    dataset cropped to the model's input (enough to calibrate; its labels are not the model's classes)."""
    spec = spec_of(name)
    if spec is None:
        raise ConfigError(f"--hub {name}: not a zoo name (`vidray models` lists them); family builders like "
                          "create_x3d have no default input to export at")
    if spec.task != "classification":
        raise ConfigError(f"--hub {name}: a {spec.task} model (it takes boxes too); vidray export takes classifiers")
    module = create_model(name, num_classes=_classes_in(checkpoint, spec), pretrained=checkpoint or None,
                          progress=False)
    if len(spec.input.pathways) > 1:
        module = PathwaysAsArguments(module)  # the program takes the pathways as positional inputs
    frames, height, width = max(spec.input.default_shapes, key=lambda shape: shape[1])[1:]  # the densest pathway
    return ExportSource(
        module=module, name=name, model_uri=f"zoo:{name}", input_spec=spec.input, mean=spec.mean, std=spec.std,
        data=data or _synthetic_data(frames, (height, width)), seed=seed,
    )


def _classes_in(checkpoint: str | None, spec: Any) -> int | None:
    """The classifier size of ``checkpoint`` (a fine-tuned model has its own): the model is built to
    match, or loading would keep a random classifier in the program."""
    if not checkpoint or not spec.classifier:
        return None
    from vidray.models.checkpoint import extract_state_dict, load_checkpoint

    state = extract_state_dict(load_checkpoint(checkpoint, progress=False), checkpoint)
    weight = state.get(f"{spec.classifier}.weight")
    return int(weight.shape[0]) if weight is not None else None


def _logged_model_uri(model_uri: str, tracking_uri: str) -> str:
    """``runs:/RUN_ID`` as the ``models:/ID`` of the model that run logged; other URIs unchanged."""
    if not model_uri.startswith("runs:/"):
        if not model_uri.startswith("models:/"):
            raise ConfigError(f"--model-uri {model_uri}: expected models:/NAME/VERSION, models:/NAME@ALIAS, "
                              "models:/MODEL_ID or runs:/RUN_ID")
        return model_uri
    from vidray.tracking.store import tracking_client, tracking_errors

    run_id = model_uri.removeprefix("runs:/").split("/", 1)[0]
    client = tracking_client(tracking_uri)
    with tracking_errors(f"finding the model logged by run {run_id}"):
        run = client.get_run(run_id)
        models = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'",
                                             order_by=[{"field_name": "creation_timestamp_ms", "ascending": False}])
    ready = [model for model in models if str(model.status).endswith("READY")]
    if not ready:
        raise DeployError(f"{model_uri}: the run logged no finished model")
    return f"models:/{ready[0].model_id}"  # the newest: a resumed run logs its final model again


def _run_config(run_id: str | None, tracking_uri: str, model_uri: str) -> ExperimentConfig:
    from vidray.tracking.store import tracking_client, tracking_errors

    if run_id is None:
        raise DeployError(f"{model_uri}: no source run recorded; give --config with the data to calibrate on")
    client = tracking_client(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="vidray-export-") as tmp:
        with tracking_errors(f"reading the config of run {run_id}"):
            if RESOLVED_CONFIG not in {artifact.path for artifact in client.list_artifacts(run_id)}:
                raise DeployError(f"{model_uri}: its run {run_id} has no {RESOLVED_CONFIG} (logged by `vidray run` "
                                  "since issue 15); give --config with the data to calibrate on")
            path = client.download_artifacts(run_id, RESOLVED_CONFIG, tmp)
        with open(path) as file:
            text = file.read()
    try:
        return ExperimentConfig.model_validate_json(text)
    except ValueError as exc:
        raise DeployError(f"{model_uri}: the config its run {run_id} logged does not validate with this vidray "
                          f"({str(exc).splitlines()[0]}); give --config with the data to calibrate on") from None


def _synthetic_data(frames: int, size: tuple[int, int]) -> DataSplits:
    crop = {"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [
        {"name": "ShortSideScale", "args": {"size": min(size)}}, {"name": "CenterCrop", "args": {"size": list(size)}}]}}
    fields = {"decode_audio": False, "frames_per_clip": frames, "transform": [crop],
              "clip_sampler": {"name": "constant_clips_per_video", "args": {"clip_duration": 1.6, "clips_per_video": 1}},
              "synthetic": {"root": default_root() + "-export", "num_classes": 2, "train_per_class": 8,
                            "val_per_class": 8, "height": 128, "width": 128}}
    return DataSplits(train=DataConfig(split="train", **fields), val=DataConfig(split="val", **fields))


# ---------------------------------------------------------------------- the job
def export_model(
    source: ExportSource,
    deploy: DeployConfig,
    *,
    tracking: TrackingConfig | None = None,
    output: str | None = None,
    keep_local: bool = True,
) -> ExportResult:
    """Exports, evaluates, saves and, unless ``tracking`` is None, logs the bundle beside the source model
    and registers it.

    The bundle goes to ``output``, else to ``./vidray-deploy/<name>-<sha256 prefix>``; with
    ``keep_local=False`` and tracking, MLflow holds the only copy (a Ray job's working
    directory may be gone when it ends).
    """
    if tracking is None and output is None and not keep_local:
        raise ConfigError("export: with no tracking store the bundle must be kept locally")
    if output is not None and os.path.exists(os.path.join(output, RECORD_FILE)):
        raise ConfigError(f"--output {output}: already holds a bundle; give a new folder")
    to_input = ClipToModelInput(source.mean, source.std, input_spec=source.input_spec)
    calibration_split, eval_split = _splits(source.data)
    if source.streams and (eval_split.frames_per_clip or 0) % deploy.chunk_frames:
        raise ConfigError(f"--chunk-frames {deploy.chunk_frames}: the data's clips have {eval_split.frames_per_clip} "
                          "frames, not a whole number of chunks")
    name = deploy.register or f"{source.name}-{deploy.quantize}-{deploy.backend}"
    metadata = {"model": source.model_uri, "registered_name": name, "input_normalisation": {
        "mean": list(source.mean), "std": list(source.std), "input": "float clips [B, C, T, H, W] = (uint8 / 255 - mean) / std"}}
    if source.classes:
        metadata["classes"] = list(source.classes)
    calibration = None
    if deploy.quantize == "int8":
        clips = _model_inputs(_dataset(calibration_split, source.seed), to_input, deploy.calibration_batches)
        calibration = [inputs for inputs, _ in clips]
        if not calibration:
            raise DeployError(f"calibration: the {calibration_split.split} split gave no clips to calibrate on")
    logger.info("exporting %s (%s, %s)", source.model_uri, deploy.quantize, deploy.backend)
    if source.streams:
        height, width = source.input_spec.pathways[0].shape[2:]
        bundle = export_stream(source.module, chunk_frames=deploy.chunk_frames, frame_size=(height, width),
                               quantize=deploy.quantize, calibration=[c[0] for c in calibration or []], metadata=metadata)
    else:
        example = _example(source, to_input)
        bundle = export(source.module, example, quantize=deploy.quantize, backend=deploy.backend,
                        calibration=calibration, metadata=metadata)
    evaluation = evaluate(source, bundle, eval_split, to_input, deploy.eval_clips)
    bundle = dataclasses.replace(bundle, metadata={**bundle.metadata, "evaluation": evaluation})
    if output is None and not keep_local:
        with tempfile.TemporaryDirectory(prefix="vidray-bundle-") as staging:
            result = ExportResult(bundle, bundle.save(os.path.join(staging, name)), evaluation)
            return dataclasses.replace(_track(result, source, deploy, name, tracking), folder=None)
    default = os.path.abspath(os.path.join("vidray-deploy", f"{name}-{bundle.sha256[:12]}"))
    folder = bundle.save(output or first_unused(default, os.path.exists))  # an earlier export of it is kept
    result = ExportResult(bundle, folder, evaluation)
    return result if tracking is None else _track(result, source, deploy, name, tracking)


def _splits(data: DataSplits) -> tuple[DataConfig, DataConfig]:
    """Calibration: the training videos through the evaluation clip sampler and transform (no random
    crops: a phone sees evaluation-style input); evaluation: the validation split (else the training one)."""
    evaluation = data.val or data.train
    calibration = data.train.model_copy(update={
        "clip_sampler": evaluation.clip_sampler, "transform": evaluation.transform,
        "frames_per_clip": evaluation.frames_per_clip, "decode_audio": False})
    return calibration, evaluation


def _dataset(data: DataConfig, seed: int) -> Any:
    from torch.utils.data import SequentialSampler

    return build_dataset(data, seed=seed, video_sampler=SequentialSampler)


def _model_inputs(dataset: Any, to_input: ClipToModelInput, limit: int | None) -> Iterator[tuple]:
    """``(model inputs, label)`` of the dataset's clips in order, a batch of one each, at most ``limit``."""
    for count, sample in enumerate(dataset):
        if limit is not None and count >= limit:
            return
        inputs = to_input(sample["video"].unsqueeze(0))
        yield (tuple(inputs) if isinstance(inputs, list) else (inputs,)), int(sample["label"])


def _example(source: ExportSource, to_input: ClipToModelInput) -> tuple[torch.Tensor, ...]:
    shapes = source.input_spec.default_shapes
    clip = torch.zeros(1, *max(shapes, key=lambda shape: shape[1]), dtype=torch.uint8)
    inputs = to_input(clip)
    return tuple(inputs) if isinstance(inputs, list) else (inputs,)


def evaluate(
    source: ExportSource, bundle: DeployBundle, data: DataConfig, to_input: ClipToModelInput, limit: int | None
) -> dict[str, Any]:
    """The eager model and the program on the same clips: top-1 of each (when the model's classes are the
    dataset's), how often their top-1 classes agree, and the largest difference of their outputs (an
    fp32 program computes what the model computes: ~1e-6)."""
    program = Program(bundle.program, bundle.inputs, bundle.outputs, f"{source.name} program")
    stream = ProgramStream(program) if source.streams else None
    chunk = bundle.metadata["stream"]["chunk_frames"] if stream is not None else 0
    dataset = _dataset(data, source.seed)
    scored = bool(source.classes) and list(dataset.classes or []) == list(source.classes or [])
    eager_right = program_right = agree = clips = 0
    difference = 0.0
    with torch.no_grad():
        for inputs, label in _model_inputs(dataset, to_input, limit):
            eager = source.module(*inputs)
            if stream is not None:
                stream.reset()
                logits = [stream(part) for part in inputs[0].split(chunk, dim=2)][-1]
            else:
                logits = program(*inputs)[0]
            eager_class, program_class = int(eager.argmax()), int(logits.argmax())
            difference = max(difference, float((eager - logits).abs().max()))
            clips += 1
            agree += eager_class == program_class
            eager_right += eager_class == label
            program_right += program_class == label
    if clips == 0:
        raise DeployError(f"evaluation: the {data.split} split gave no clips")
    record: dict[str, Any] = {"split": data.split, "clips": clips, "agreement": agree / clips,
                              "max_abs_difference": difference}
    if scored:  # the model was trained on these classes: its top-1 means something
        quantize = bundle.metadata["quantization"]["quantize"]
        record.update({"top1_eager": eager_right / clips, f"top1_{quantize}": program_right / clips,
                       "top1_drop": (eager_right - program_right) / clips})
    return record


def _track(result: ExportResult, source: ExportSource, deploy: DeployConfig, name: str,
           tracking: TrackingConfig) -> ExportResult:
    """Logs the bundle beside the source model (a new run for zoo models) and registers it."""
    from vidray.tracking import RunHandle, config_hash, run_tags, start_run
    from vidray.tracking.store import tracking_client, tracking_errors

    bundle, evaluation = result.bundle, result.evaluation
    delegation = bundle.metadata["delegation"]
    tags = {"sha256": bundle.sha256, "size_bytes": bundle.size_bytes, "quantize": deploy.quantize,
            "backend": deploy.backend, "work_fraction": f"{delegation['work_fraction']:.6f}",
            "partitions": delegation["partitions"], "agreement": f"{evaluation['agreement']:.4f}",
            "source_model": source.model_uri,
            **{key: f"{value:.4f}" for key, value in evaluation.items() if key.startswith("top1_")}}
    uri = resolve_tracking_uri(tracking)
    if source.run_id is not None:  # artifacts and versions are added to the training run; its status is untouched
        with tracking_errors(f"finding run {source.run_id}"):
            experiment_id = tracking_client(uri).get_run(source.run_id).info.experiment_id
        run, own_run = RunHandle(uri, source.run_id, experiment_id), False
    else:
        params = deploy.model_dump(mode="json")
        run = start_run(tracking.model_copy(update={"experiment": tracking.experiment or "vidray-export",
                                                    "run_name": tracking.run_name or name}),
                        name=name, params=params, config_text=None,
                        tags=run_tags(config_hash=config_hash(params), manifest_hash=None,
                                      extra={SOURCE_MODEL_TAG: source.model_uri}))
        own_run = True
    status = "FAILED"
    try:
        artifact_uri = log_bundle(run, result.folder, name, bundle.sha256)
        version = register_bundle(run, artifact_uri, name, tags)
        status = "FINISHED"
    finally:
        if own_run:
            run.finish(status)
    return dataclasses.replace(result, run_id=run.run_id, artifact_uri=artifact_uri, registered=f"{name}/{version}")


def print_export_summary(result: ExportResult) -> None:
    """What was made and where: the bundle, its size and delegation, accuracy, the registered version."""
    bundle, evaluation = result.bundle, result.evaluation
    delegation = bundle.metadata["delegation"]
    quantize = bundle.metadata["quantization"]["quantize"]
    print(f"\nexported {bundle.metadata['model']}: {quantize} ExecuTorch program")
    print(f"  bundle                     {result.folder or result.artifact_uri}")
    print(f"  program                    {bundle.size_bytes / 1e6:.2f} MB, sha256 {bundle.sha256}")
    print(f"  delegated to XNNPACK       {delegation['work_fraction']:.2%} of the work, {delegation['partitions']} "
          f"partition(s); outside: {', '.join(delegation['outside']) or 'nothing'}")
    print(f"  evaluated on               {evaluation['clips']} {evaluation['split']} clips: top-1 agreement with "
          f"the eager model {evaluation['agreement']:.2%}, outputs within {evaluation['max_abs_difference']:.2g}")
    if "top1_drop" in evaluation:
        print(f"  top-1                      eager {evaluation['top1_eager']:.4f}, program "
              f"{evaluation[f'top1_{quantize}']:.4f}, drop {evaluation['top1_drop']:+.4f}")
    if result.registered:
        name, version = result.registered.split("/")
        print(f"  registered                 models:/{name}/{version} (run {result.run_id})")
