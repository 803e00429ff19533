"""Loading an experiment config with command-line overrides, and the end-of-job summary."""

from __future__ import annotations

from typing import Any, Sequence

import yaml

from vidray.config import format_validation_error, read_config_file
from vidray.errors import ConfigError
from vidray.train.config import ExperimentConfig
from vidray.train.trainer import FitResult


def load_experiment(path: str | None, overrides: Sequence[str] = ()) -> tuple[ExperimentConfig, str]:
    """The config at ``path`` (embedded defaults without one) with ``KEY=VALUE`` overrides applied.

    An override inside a section the file does not set edits that section's
    default. Returns the validated config and the text logged with the run: the
    file as written plus the overrides, so the MLflow record shows what was asked.
    """
    from pydantic import ValidationError

    data = read_config_file(path) if path else {}
    defaults = ExperimentConfig().model_dump(mode="json") if overrides else {}
    for item in overrides:
        key, value = _parse_override(item)
        section = key.split(".", 1)[0]
        if "." in key and section not in data and isinstance(defaults.get(section), dict):
            data[section] = defaults[section]  # --set optimizer.args.lr=... edits the default optimizer
        _set_dotted(data, key, value)
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path or "embedded defaults")) from None
    text = open(path, encoding="utf-8").read() if path else yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    if overrides:
        text += "".join(f"\n# --set {item}" for item in overrides) + "\n"
    return config, text


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=2")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parents[: i + 1])} is not a section")
        node = child
    node[leaf] = value


def print_summary(config: ExperimentConfig, result: FitResult) -> None:
    """Where the record is: the run, its metrics, the model, and how to look at them."""
    metrics = result.metrics
    print(f"\n{config.name}: finished {metrics.get('epoch', '?')} epoch(s)")
    for key in ("epoch/train_loss", "epoch/train_clips_per_s", "epoch/decode_errors", "val/top1", "val/top5", "val/mAP"):
        if key in metrics:
            print(f"  {key:<26} {metrics[key]:.4g}")
    print(f"  MLflow run                 {result.run_id} (experiment {result.experiment_id})")
    print(f"  tracking URI               {result.tracking_uri}")
    print(f"  model                      {result.model_uri}" + (f" registered as {result.registered}" if result.registered else ""))
    print(f"  checkpoint                 {result.checkpoint}")
    if result.tracking_uri.startswith("sqlite:"):
        print(f"\nsee it: mlflow ui --backend-store-uri {result.tracking_uri}   (then open http://127.0.0.1:5000)")
