"""`vidray export` of the zoo models the deployment promises, at their published input sizes.

Opt-in (``pytest tests/deploy/test_zoo_programs.py --zoo-programs -s``): exporting
twelve full-size models twice takes ~40 minutes on 2 cores, far beyond the suite's
budget; the suite covers every block kind at small sizes (test_export, test_stream,
test_fold_time) and one full-size zoo model (tests/jobs/test_export_job.py). Weights
are random (none can be downloaded here), so the int8 top-1 agreement with the eager
model is reported, not asserted: random logits are close together and their argmax
is fragile.
"""

from __future__ import annotations

import pytest

from vidray.deploy.config import DeployConfig
from vidray.jobs.export import export_model, zoo_source

ZOO = ("x3d_xs", "x3d_s", "x3d_m", "movinet_a0", "movinet_a1", "movinet_a2", "movinet_a0_stream",
       "movinet_a1_stream", "movinet_a2_stream", "slowfast_r50", "efficient_x3d_xs", "efficient_x3d_s")


@pytest.fixture(autouse=True)
def opted_in(request, tmp_path_factory, monkeypatch):
    if not request.config.getoption("--zoo-programs"):
        pytest.skip("full-size zoo exports (~40 min): run with --zoo-programs")
    monkeypatch.chdir(tmp_path_factory.getbasetemp())  # one calibration dataset for all of them


@pytest.mark.parametrize("name", ZOO)
def test_the_zoo_model_exports_to_programs_that_compute_what_it_computes(name, tmp_path):
    source = zoo_source(name)
    fp32 = export_model(source, DeployConfig(quantize="fp32", eval_clips=4), output=str(tmp_path / "fp32"))
    int8 = export_model(source, DeployConfig(quantize="int8", calibration_batches=8, eval_clips=16),
                        output=str(tmp_path / "int8"))
    delegation = {quantize: result.bundle.metadata["delegation"] for quantize, result in (("fp32", fp32), ("int8", int8))}
    print(f"\n{name}: fp32 outputs within {fp32.evaluation['max_abs_difference']:.2g} of eager, "
          f"{fp32.bundle.size_bytes / 1e6:.2f} MB, {delegation['fp32']['work_fraction']:.4%} of the work delegated; "
          f"int8 top-1 agreement {int8.evaluation['agreement']:.2%} on {int8.evaluation['clips']} real clips, "
          f"{int8.bundle.size_bytes / 1e6:.2f} MB, {delegation['int8']['work_fraction']:.4%} delegated "
          f"({delegation['int8']['partitions']} partitions)")
    assert fp32.evaluation["max_abs_difference"] <= 1e-4
    assert all(report["work_fraction"] >= 0.95 for report in delegation.values()), delegation
    assert int8.bundle.size_bytes * 3 < fp32.bundle.size_bytes
