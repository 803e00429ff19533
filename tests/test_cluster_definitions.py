"""Cluster definitions: the AWS launcher config passes Ray's own validation and matches cluster/README.md."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[1]
AWS_CONFIG = REPO / "cluster" / "aws" / "vidray.yaml"
README = REPO / "cluster" / "README.md"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(AWS_CONFIG.read_text())


def _table(header_start: str) -> list[list[str]]:
    """The body rows of the README's markdown table whose header row starts with ``header_start``."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_aws_config_passes_ray_validation(config):
    # As `ray up` does before asking AWS for anything: fill in the provider's defaults, then validate.
    validate_config(prepare_config(copy.deepcopy(config)))


def test_ray_validation_rejects_an_unknown_field(config):
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_train"]["gpus"] = 4
    with pytest.raises(jsonschema.ValidationError, match="gpus"):
        validate_config(prepare_config(broken))


def test_node_types_are_those_the_readme_lists(config):
    node_types = config["available_node_types"]
    rows = _table("| node type |")
    assert sorted(row[0] for row in rows) == sorted(node_types)
    for name, instance, resources, count, market, idle in rows:
        node = node_types[name]
        assert node["node_config"]["InstanceType"] == instance, name
        assert node["resources"] == json.loads(resources), name
        if name == config["head_node_type"]:
            assert count == "1"
            continue
        assert count == f"{node['min_workers']}-{node['max_workers']}", name
        spot = node["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"
        assert market == ("spot" if spot else "on-demand"), name
        idle_s = node.get("idle_timeout_s", config["idle_timeout_minutes"] * 60)
        assert idle == f"{idle_s // 60} min", name
    workers = sum(node.get("max_workers", 0) for name, node in node_types.items() if name != config["head_node_type"])
    assert config["max_workers"] == workers


def test_images_run_the_pinned_ray_version(config):
    pin = re.search(r"^ray==(\S+)$", (REPO / "constraints.txt").read_text(), re.MULTILINE)[1]
    images = [config["docker"]["image"]] + [
        node["docker"]["worker_image"] for node in config["available_node_types"].values() if "docker" in node
    ]
    assert len(images) == 2
    assert all(image.startswith(f"rayproject/ray:{pin}-py311-") for image in images), images


def test_nodes_install_vidray_from_the_mounted_files(config):
    mounts = config["file_mounts"]
    assert all((REPO / local).exists() for local in mounts.values()), mounts
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    needed = {"vidray", "pyproject.toml", "constraints.txt", readme}
    assert {remote.removeprefix("~/vidray/") for remote in mounts} == needed
    assert config["setup_commands"] == ["pip install -q -c ~/vidray/constraints.txt -e ~/vidray"]


def test_local_cluster_options_are_those_the_readme_lists():
    documented = {option for row in _table("| option |") for option in re.findall(r"--[a-z-]+", row[0])}
    accepted = set(re.findall(r"^\s*(--[a-z-]+)\)", (REPO / "cluster/local/start.sh").read_text(), re.MULTILINE))
    assert documented == accepted
