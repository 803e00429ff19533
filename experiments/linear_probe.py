"""Linear-probe evaluation of a self-supervised encoder, as a Ray job.

Freezes the encoder (batch norms included) and trains only a linear classifier
on its standardised features (the standardisation is folded into the
classifier of the saved model), then evaluates::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m experiments.linear_probe --config experiments/configs/probe_x3d_synthetic.yaml \\
        --pretrained models:/simclr-x3d-synthetic-encoder/1

``--pretrained`` takes the pretraining run's checkpoint or run folder, ``runs:/RUN_ID``
or ``models:/NAME/VERSION``; the MLflow run is tagged with the pretraining run
(``vidray.pretraining_run``). Without ``--pretrained`` it probes a randomly
initialised encoder of the same architecture: the baseline the pretraining must beat.
Every other option is ``vidray run``'s (``--help``).
"""

from __future__ import annotations

import sys
from typing import Sequence

from vidray.cli import main as vidray_main


def main(argv: Sequence[str] | None = None) -> int:
    return vidray_main(["--verbose", "run", "--linear-probe", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
