"""The Grafana dashboard: well formed, and every metric it queries is one vidray or Ray really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import ray

from vidray.tracking.telemetry import METRICS

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "vidray_training.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_METRIC_NAME = re.compile(r"\bray_\w+")
_QUERIED_METRIC = re.compile(r"\b(ray_\w+)\{")  # in Ray's dashboard templates, a name followed by its labels
_PY_DEFINITION = re.compile(r"""\b(?:Gauge|Counter|Histogram)\(\s*["'](\w+)["']""")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _queries(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    return exprs + [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def _ray_exported_names() -> set[str]:
    """Ray's metrics, as exported: those its Python code defines, and those its own Grafana dashboards
    query (the raylet's and core workers' metrics, such as ``ray_object_store_memory``, are defined in C++)."""
    root = Path(ray.__file__).parent
    names: set[str] = set()
    for folder in ("dashboard", "data", "train"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(errors="replace")
            names.update("ray_" + name for name in _PY_DEFINITION.findall(text))
            if "dashboards" in path.parts:
                names.update(_QUERIED_METRIC.findall(text))
    return names


def test_dashboard_declares_its_datasource_and_run_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["run"]["datasource"] == DATASOURCE
    assert variables["run"]["definition"] == "label_values(ray_vidray_train_loss, run)"


def test_every_panel_queries_the_datasource_variable(dashboard):
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), panel["title"]


def test_panel_ids_are_unique(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_vidray_metric_queried_is_defined_in_telemetry(dashboard):
    defined = {series for spec in METRICS for series in spec.exported_series}
    queried = {name for expr in _queries(dashboard) for name in _METRIC_NAME.findall(expr)}
    assert {name for name in queried if name.startswith("ray_vidray_")} - defined == set()


def test_every_telemetry_metric_has_a_panel(dashboard):
    queried = {name for expr in _queries(dashboard) for name in _METRIC_NAME.findall(expr)}
    assert [spec.name for spec in METRICS if not queried & set(spec.exported_series)] == []


def test_every_ray_metric_queried_exists_in_ray(dashboard):
    queried = {name for expr in _queries(dashboard) for name in _METRIC_NAME.findall(expr)}
    ray_names = {name for name in queried if not name.startswith("ray_vidray_")}
    assert ray_names, "the dashboard shows none of Ray's own metrics"
    exported = _ray_exported_names()
    unknown = {
        name for name in ray_names if name not in exported and not any(
            name.endswith(suffix) and name[: -len(suffix)] in exported for suffix in _SUFFIXES
        )
    }
    assert unknown == set()
