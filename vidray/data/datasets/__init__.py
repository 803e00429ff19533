"""Named datasets read from the annotation files their authors distribute."""

from vidray.data.datasets.hmdb51 import Hmdb51
from vidray.data.datasets.kinetics import Kinetics
from vidray.data.datasets.ucf101 import Ucf101

__all__ = ["Hmdb51", "Kinetics", "Ucf101"]
