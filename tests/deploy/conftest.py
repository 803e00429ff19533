"""Real clips for the deploy tests: the synthetic dataset's validation videos."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # clips.py


@pytest.fixture(scope="session")
def val_videos(synthetic_dataset) -> list[str]:
    """Paths of the synthetic dataset's validation videos (real H.264 mp4 files)."""
    with open(synthetic_dataset.csv["val"]) as file:
        rows = list(csv.DictReader(file))
    return [os.path.join(synthetic_dataset.video_dir["val"], row["label"],
                         f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4")
            for row in rows]
