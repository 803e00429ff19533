"""The platform's data half: datasets to Ray Data pipelines of decoded clips, and dataset preparation."""

from vidray.ingest.clips import CLIP_COLUMNS, ClipDecoder, ClipSource, clip_dataset
from vidray.ingest.prepare import PrepareConfig, PrepareSummary, prepare_dataset
from vidray.ingest.state import IngestState, create_ingest_state

__all__ = [
    "CLIP_COLUMNS",
    "ClipDecoder",
    "ClipSource",
    "IngestState",
    "PrepareConfig",
    "PrepareSummary",
    "clip_dataset",
    "create_ingest_state",
    "prepare_dataset",
]
