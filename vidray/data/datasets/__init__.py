"""Named datasets read from the annotation files their authors distribute."""

from vidray.data.datasets.ava import Ava, AvaDataset, detection_collate
from vidray.data.datasets.charades import Charades
from vidray.data.datasets.domsev import (
    DomsevFrameDataset,
    DomsevVideoDataset,
    LabelType,
)
from vidray.data.datasets.epic_kitchens import EpicKitchens100, EpicKitchens100Dataset
from vidray.data.datasets.hmdb51 import Hmdb51
from vidray.data.datasets.kinetics import Kinetics
from vidray.data.datasets.ssv2 import SSv2
from vidray.data.datasets.ucf101 import Ucf101

__all__ = [
    "Ava",
    "AvaDataset",
    "Charades",
    "DomsevFrameDataset",
    "DomsevVideoDataset",
    "EpicKitchens100",
    "EpicKitchens100Dataset",
    "Hmdb51",
    "Kinetics",
    "LabelType",
    "SSv2",
    "Ucf101",
    "detection_collate",
]
