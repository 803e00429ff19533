"""A synthetic, labelled video dataset that only temporal models can learn.

Every video shows a bar on a textured background. The class is how the bar
moves: its direction, speed, or rotation sense. Position and angle are
uniformly random in every frame of every class (translations wrap around the
frame), so a single frame carries no information about the class: a
single-frame classifier stays at chance while a model that sees motion learns
it. Files are real H.264 mp4s with an AAC audio track, laid out like
Kinetics (official CSVs plus one folder per class), so every code path that
reads Kinetics reads this too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from vidray import io as vio
from vidray.data.video_writer import write_video

logger = logging.getLogger(__name__)

# (name, kind, parameter): translations move (dx, dy) pixels per frame as a
# fraction of the frame size; rotations turn by an angle per frame.
MOTIONS: tuple[tuple[str, str, tuple[float, float]], ...] = (
    ("move_right", "translate", (1.0, 0.0)),
    ("move_left", "translate", (-1.0, 0.0)),
    ("move_down", "translate", (0.0, 1.0)),
    ("move_up", "translate", (0.0, -1.0)),
    ("rotate_clockwise", "rotate", (1.0, 0.0)),
    ("rotate_counterclockwise", "rotate", (-1.0, 0.0)),
    ("move_right_fast", "translate", (2.5, 0.0)),
    ("move_left_fast", "translate", (-2.5, 0.0)),
)
MANIFEST = "synthetic.json"
BACKGROUNDS = ("texture", "plain")
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SyntheticSpec:
    """What to write; the dataset on disk is reused when its spec is identical."""

    num_classes: int = 4
    train_per_class: int = 24
    val_per_class: int = 8
    height: int = 112
    width: int = 112
    fps: float = 15.0
    duration: float = 2.0
    seed: int = 0
    audio_sample_rate: int = 16000
    background: str = "texture"  # "texture": a random texture per video; "plain": one grey for all
    bar_angle: float | None = None  # degrees; None: random per video (translating bars)
    bar_color: tuple[int, int, int] | None = None  # RGB; None: random per video
    bar_length: float = 0.45  # of the frame's shorter side; >= 1 with bar_angle 90: a full-height stripe

    def __post_init__(self) -> None:
        if not 2 <= self.num_classes <= len(MOTIONS):
            raise ValueError(f"num_classes must be in 2..{len(MOTIONS)}, got {self.num_classes}")
        if self.height % 2 or self.width % 2 or min(self.height, self.width) < 16:
            raise ValueError(f"height and width must be even and >= 16, got {self.height}x{self.width}")
        if self.fps <= 0 or self.duration <= 0 or self.train_per_class < 0 or self.val_per_class < 0:
            raise ValueError("fps and duration must be positive and the per-class counts non-negative")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {self.background!r}")
        if not 0 < self.bar_length <= 2:
            raise ValueError(f"bar_length must be in (0, 2] (a fraction of the shorter side), got {self.bar_length}")
        if self.bar_color is not None and (len(self.bar_color) != 3 or not all(0 <= c <= 255 for c in self.bar_color)):
            raise ValueError(f"bar_color must be three values in 0..255, got {self.bar_color!r}")

    @property
    def classes(self) -> list[str]:
        return [name for name, _, _ in MOTIONS[: self.num_classes]]


@dataclass
class SyntheticDataset:
    """Where a written dataset lives: ``csv[split]`` and ``video_dir[split]`` per split."""

    root: str
    spec: SyntheticSpec
    csv: dict[str, str] = field(default_factory=dict)
    video_dir: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.spec.classes


def write_synthetic_dataset(root: str, spec: SyntheticSpec | None = None, workers: int = 2) -> SyntheticDataset:
    """Writes (or reuses) the dataset under ``root`` (local path or ``s3://`` URI)."""
    spec = spec or SyntheticSpec()
    dataset = SyntheticDataset(
        root=str(root),
        spec=spec,
        csv={s: vio.join(root, "annotations", f"{s}.csv") for s in SPLITS},
        video_dir={s: vio.join(root, s) for s in SPLITS},
    )
    manifest = vio.join(root, MANIFEST)
    if vio.exists(manifest) and json.loads(vio.read_text(manifest)) == json.loads(json.dumps(asdict(spec))):
        logger.info("reusing synthetic dataset at %s", root)
        return dataset
    rng = np.random.default_rng(spec.seed)
    jobs = []
    for split, per_class in (("train", spec.train_per_class), ("val", spec.val_per_class)):
        rows = ["label,youtube_id,time_start,time_end,split"]
        for label in range(spec.num_classes):
            for _ in range(per_class):
                youtube_id = "".join(rng.choice(list(string.ascii_letters + string.digits + "-_"), 11))
                start = int(rng.integers(0, 300))
                end = start + math.ceil(spec.duration)
                name = spec.classes[label]
                path = vio.join(dataset.video_dir[split], name, f"{youtube_id}_{start:06d}_{end:06d}.mp4")
                jobs.append((path, label, int(rng.integers(2**31))))
                rows.append(f"{name},{youtube_id},{start},{end},{split}")
        vio.write_bytes(dataset.csv[split], ("\n".join(rows) + "\n").encode())
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PyAV encodes without the GIL
        list(pool.map(lambda job: _write_clip(spec, *job), jobs))
    vio.write_bytes(manifest, json.dumps(asdict(spec), indent=2).encode())
    logger.info("wrote %d synthetic videos to %s", len(jobs), root)
    return dataset


def _write_clip(spec: SyntheticSpec, path: str, label: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = render_motion(MOTIONS[label], spec.height, spec.width, round(spec.duration * spec.fps), rng,
                           background=spec.background, bar_angle=spec.bar_angle, bar_color=spec.bar_color,
                           bar_length=spec.bar_length)
    audio = _tone(rng, spec.duration, spec.audio_sample_rate)
    write_video(path, frames, fps=spec.fps, audio=audio, audio_sample_rate=spec.audio_sample_rate)


def render_motion(
    motion: tuple[str, str, tuple[float, float]],
    height: int,
    width: int,
    num_frames: int,
    rng: np.random.Generator,
    background: str = "texture",
    bar_angle: float | None = None,
    bar_color: tuple[int, int, int] | None = None,
    bar_length: float = 0.45,
) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` frames of a bar moving as ``motion`` says, from a random start.

    A per-video texture, bar angle, bar colour and (for a short bar) its position across the motion
    are cues that tell videos apart without their motion: self-supervised methods latch onto them.
    ``background="plain"``, ``bar_angle=90``, a fixed ``bar_color`` and ``bar_length=1`` (a stripe
    through the whole frame) leave the motion as what two clips of a video share.
    """
    _, kind, (a, b) = motion
    canvas = np.full((height, width, 3), 60, np.uint8) if background == "plain" else _background(rng, height, width)
    colour = np.array(bar_color if bar_color is not None else rng.integers(160, 256, size=3), dtype=np.uint8)
    length, thickness = bar_length * min(height, width), max(2.0, 0.08 * min(height, width))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    if kind == "translate":
        angle = math.radians(bar_angle) if bar_angle is not None else rng.uniform(0, math.pi)
        mask = _bar_mask(ys, xs, height / 2, width / 2, angle, length, thickness)
        y0, x0 = rng.uniform(0, height), rng.uniform(0, width)
        step = 0.04 * min(height, width)
        for t in range(num_frames):
            shift_y = int(round(y0 + b * step * t)) % height
            shift_x = int(round(x0 + a * step * t)) % width
            frames[t] = np.where(np.roll(mask, (shift_y, shift_x), axis=(0, 1))[..., None], colour, canvas)
    else:
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        angle0 = rng.uniform(0, math.pi)
        for t in range(num_frames):
            angle = angle0 + a * 0.2 * t
            mask = _bar_mask(ys, xs, cy, cx, angle, length, thickness, wrap=(height, width))
            frames[t] = np.where(mask[..., None], colour, canvas)
    return frames


def _bar_mask(
    ys: np.ndarray, xs: np.ndarray, cy: float, cx: float, angle: float, length: float, thickness: float,
    wrap: tuple[int, int] | None = None,
) -> np.ndarray:
    dy, dx = ys - cy, xs - cx
    if wrap is not None:  # distances on the torus, so a bar near an edge continues on the other side
        dy = (dy + wrap[0] / 2) % wrap[0] - wrap[0] / 2
        dx = (dx + wrap[1] / 2) % wrap[1] - wrap[1] / 2
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    return (np.abs(along) <= length / 2) & (np.abs(across) <= thickness / 2)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random texture (coarse noise upsampled), so the codec sees realistic content."""
    coarse = rng.integers(0, 120, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    return np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width]


def _tone(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """A tone of random pitch with a little noise (independent of the class)."""
    t = np.arange(int(duration * rate)) / rate
    pitch = rng.uniform(220, 880)
    return (0.3 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def default_root() -> str:
    """``$VIDRAY_DATA/synthetic`` or ``./vidray-data/synthetic``."""
    return os.path.join(os.environ.get("VIDRAY_DATA", "vidray-data"), "synthetic")
