"""Fine-tuning a self-supervised encoder on a labelled dataset, as a Ray job.

The encoder's weights initialise the model (every weight but the classifier,
which starts fresh); everything then trains::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m experiments.finetune --config experiments/configs/finetune_x3d_synthetic.yaml \\
        --pretrained models:/simclr-x3d-synthetic-encoder/1

``--pretrained`` takes the pretraining run's checkpoint or run folder, ``runs:/RUN_ID``
or ``models:/NAME/VERSION``; the MLflow run is tagged with the pretraining run
(``vidray.pretraining_run``). Without it the same recipe trains from scratch,
the baseline. Every other option is ``vidray run``'s (``--help``).
"""

from __future__ import annotations

import sys
from typing import Sequence

from vidray.cli import main as vidray_main


def main(argv: Sequence[str] | None = None) -> int:
    return vidray_main(["--verbose", "run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
