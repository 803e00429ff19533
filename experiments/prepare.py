"""Dataset preparation as a Ray job: ``vidray prepare`` as an experiment entrypoint.

Run it on the cluster through the job API (the working directory travels with
the job, ``RAY_ADDRESS`` is set for it, and ``ray.init()`` connects to it)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m experiments.prepare --config experiments/configs/prepare_kinetics400.yaml

or directly, connecting to ``RAY_ADDRESS`` or starting a local Ray::

    python -m experiments.prepare --config experiments/configs/prepare_synthetic.yaml

It takes every option of ``vidray prepare`` (``--help`` lists them; flags
override the config file). On a cluster, give absolute or ``s3://`` paths: a
job runs in a copy of the working directory.
"""

from __future__ import annotations

import sys
from typing import Sequence

from vidray.cli import main as vidray_main


def main(argv: Sequence[str] | None = None) -> int:
    return vidray_main(["--verbose", "prepare", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
