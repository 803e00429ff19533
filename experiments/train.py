"""Training as a Ray job: ``vidray run`` as an experiment entrypoint.

Submit it to a cluster through the job API (the working directory travels
with the job, ``RAY_ADDRESS`` is set for it, and the job joins that cluster)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m experiments.train --config experiments/configs/x3d_xs_synthetic.yaml

or run it directly, joining ``RAY_ADDRESS`` or starting a local Ray::

    python -m experiments.train --config experiments/configs/x3d_xs_synthetic.yaml --set epochs=2

It takes every option of ``vidray run`` (``--help`` lists them). On a cluster,
give absolute or ``s3://`` paths for data, checkpoints and the tracking store:
a job runs in a copy of the working directory.
"""

from __future__ import annotations

import sys
from typing import Sequence

from vidray.cli import main as vidray_main


def main(argv: Sequence[str] | None = None) -> int:
    return vidray_main(["--verbose", "run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
