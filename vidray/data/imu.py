"""IMU as a clip stream: inertial time series resampled onto a clip's time window.

Ego4D stores the IMU of each video as one CSV::

    component_idx,component_timestamp_ms,canonical_timestamp_ms,gyro_x,gyro_y,gyro_z,accl_x,accl_y,accl_z
    0,0.0,0.0,0.0255,0.2502,0.1118,-2.2781,-1.0311,-1.0311
    0,4.975124378109452,4.975124378109452,...

``canonical_timestamp_ms`` is the time in the canonical video (0 = its first
frame), so Ego4D's IMU lines up with its video as it is. It is NULL where the
canonical video was trimmed; such rows lie outside the video and are dropped.
Any CSV with a time column (s or ms) and numeric channel columns is read the
same way.

Video time ``t`` is recording time ``t + time_offset_sec``: the offset is the
recording's timestamp of the video's first frame (e.g. the start of an Ego4D
clip inside its parent video). A clip ``[start, end)`` becomes a float32
``[C, T]`` tensor sampled at ``start + k / rate`` for ``k = 0 .. T - 1``,
each value linearly interpolated between the two recorded samples around it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from fractions import Fraction
from typing import Any, Sequence

import torch

from vidray.data.annotations import annotation_error, parse_number, read_annotation_text
from vidray.data.video import TIME_EPS, ClipWindow, Video
from vidray.errors import ClipOutOfRangeError, ConfigError, DecodeError

logger = logging.getLogger(__name__)

EGO4D_TIME_COLUMN = "canonical_timestamp_ms"
EGO4D_CHANNELS = ("gyro_x", "gyro_y", "gyro_z", "accl_x", "accl_y", "accl_z")
# time, timestamp_ms, t_s, canonical_timestamp_ms, component_timestamp_ms, ...; the suffix names the unit.
TIME_COLUMN = re.compile(
    r"^(?:canonical_|component_)?(?:time|timestamp|t)(?:_(?P<unit>s|sec|ms|us|ns))?$", re.IGNORECASE
)
TIME_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
BOOKKEEPING_COLUMNS = frozenset({"component_idx"})
MISSING_VALUES = frozenset({"", "null", "none", "nan", "na"})  # how CSV writers spell "no value"

# Ego4D records at about 200 Hz. A fixed rate gives every clip of one duration
# the same number of samples, so IMU clips batch together.
DEFAULT_IMU_SAMPLE_RATE = 200.0

IMU_PATH_KEY = "imu_path"  # info key of a LabeledVideoDataset video: its IMU CSV
IMU_OPTIONS_KEY = "imu_options"  # info key: per-video overrides of IMUStream's options


class IMUData:
    """A multichannel time series with timestamps, clipped by video time.

    Samples are sorted by time; of samples sharing a timestamp the first is
    kept. Both are logged, since a well-formed recording needs neither.

    Args:
        timestamps_sec: recording time of each sample, in seconds.
        values: ``[C, N]`` channel values, one column per timestamp.
        channels: the ``C`` channel names.
        time_offset_sec: recording time of the video's first frame.
    """

    def __init__(
        self,
        timestamps_sec: torch.Tensor | Sequence[float],
        values: torch.Tensor | Sequence[Sequence[float]],
        channels: Sequence[str],
        name: str = "imu",
        time_offset_sec: float = 0.0,
    ) -> None:
        times = torch.as_tensor(timestamps_sec, dtype=torch.float64).flatten()
        data = torch.as_tensor(values, dtype=torch.float32)
        if data.dim() != 2 or data.shape != (len(channels), len(times)):
            raise ValueError(
                f"{name}: values must be [C, N] = [{len(channels)}, {len(times)}], got {tuple(data.shape)}"
            )
        self.name = name
        self.channels = list(channels)
        self.time_offset_sec = float(time_offset_sec)
        if len(times) > 1 and bool((times[1:] < times[:-1]).any()):
            logger.warning("%s: IMU samples are not in time order; sorted them", name)
            order = torch.argsort(times, stable=True)
            times, data = times[order], data[:, order]
        if len(times) > 1:
            distinct = torch.ones(len(times), dtype=torch.bool)
            distinct[1:] = times[1:] != times[:-1]
            duplicates = len(times) - int(distinct.sum())
            if duplicates:
                logger.warning("%s: dropped %d IMU samples with repeated timestamps (kept the first)", name, duplicates)
                times, data = times[distinct], data[:, distinct]
        if len(times) < 2:
            raise DecodeError(f"{name}: {len(times)} timed IMU samples; need at least 2 to interpolate")
        self._times = times
        self._values = data

    @classmethod
    def from_csv(
        cls,
        path: str,
        channels: Sequence[str] | None = None,
        time_column: str | None = None,
        time_unit: str | None = None,
        time_offset_sec: float = 0.0,
        delimiter: str = ",",
    ) -> "IMUData":
        """Reads an Ego4D IMU CSV, or any CSV with a time column, local or ``s3://``.

        Args:
            channels: columns to keep, in this order; default: every column
                except the time column, other time-like columns and
                ``component_idx`` (Ego4D: gyro x/y/z, accl x/y/z).
            time_column: default ``canonical_timestamp_ms`` if present, else
                the first column named like ``time``, ``timestamp_ms``, ``t_s``.
            time_unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``; default: the
                column name's suffix.

        Rows without a time are dropped (Ego4D's NULL canonical times); a
        missing or non-finite channel value is an error naming file and line.
        """
        if time_unit is not None and time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
        reader = csv.reader(io.StringIO(read_annotation_text(path)), delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise annotation_error(path, 1, "empty file; expected a header row naming the time and channel columns")
        time_column, scale = _time_column(path, header, time_column, time_unit)
        if channels is None:
            channels = [
                c for c in header if c != time_column and c not in BOOKKEEPING_COLUMNS and not TIME_COLUMN.match(c)
            ]
        missing = [c for c in channels if c not in header]
        if missing or not channels:
            raise annotation_error(path, 1, f"header {header} lacks channel column(s) {missing or 'of any kind'}")
        time_at = header.index(time_column)
        channel_at = [header.index(c) for c in channels]
        times: list[float] = []
        rows: list[list[float]] = []
        untimed: list[int] = []
        for row in reader:
            line = reader.line_num
            if not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise annotation_error(path, line, f"expected {len(header)} fields {header}, got {len(row)}")
            raw_time = row[time_at].strip()
            if raw_time.lower() in MISSING_VALUES:
                untimed.append(line)
                continue
            times.append(_finite(path, line, time_column, raw_time) * scale)
            rows.append([_finite(path, line, header[i], row[i].strip()) for i in channel_at])
        if untimed:
            logger.info(
                "%s: dropped %d IMU rows without a %s (first at line %d)", path, len(untimed), time_column, untimed[0]
            )
        values = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(channels)).T
        return cls(times, values, channels, name=str(path), time_offset_sec=time_offset_sec)

    @property
    def start_sec(self) -> float:
        """Video time of the first sample."""
        return float(self._times[0]) - self.time_offset_sec

    @property
    def end_sec(self) -> float:
        """Video time of the last sample."""
        return float(self._times[-1]) - self.time_offset_sec

    @property
    def sample_rate(self) -> float:
        """The recording's own rate: one over the median sample interval."""
        return 1.0 / float(torch.diff(self._times).median())

    @property
    def num_samples(self) -> int:
        return len(self._times)

    def sample_times(
        self,
        start_sec: float | Fraction,
        end_sec: float | Fraction,
        num_samples: int | None = None,
        sample_rate: float | None = None,
    ) -> torch.Tensor:
        """Video times (float64 ``[T]``) of a clip's samples: ``num_samples`` evenly over
        ``[start, end)``, or every ``1 / sample_rate`` s (default: the recording's rate)."""
        start, end = float(start_sec), float(end_sec)
        if end <= start:
            raise ClipOutOfRangeError(f"{self.name}: clip [{start:.3f}, {end:.3f}) s is empty; expected start < end")
        if num_samples is not None and sample_rate is not None:
            raise ValueError(f"pass num_samples or sample_rate, not both (got {num_samples} and {sample_rate})")
        if num_samples is not None:
            if num_samples < 1:
                raise ValueError(f"num_samples must be >= 1, got {num_samples}")
            count, step = num_samples, (end - start) / num_samples
        else:
            rate = self.sample_rate if sample_rate is None else float(sample_rate)
            if rate <= 0:
                raise ValueError(f"sample_rate must be positive, got {sample_rate}")
            count, step = max(1, math.ceil((end - start) * rate - TIME_EPS)), 1.0 / rate
        return start + torch.arange(count, dtype=torch.float64) * step

    def get_clip(
        self,
        start_sec: float | Fraction,
        end_sec: float | Fraction,
        num_samples: int | None = None,
        sample_rate: float | None = None,
    ) -> torch.Tensor:
        """float32 ``[C, T]``: the channels at :meth:`sample_times`, linearly interpolated."""
        grid = self.sample_times(start_sec, end_sec, num_samples, sample_rate)
        if grid[0] < self.start_sec - TIME_EPS or grid[-1] > self.end_sec + TIME_EPS:
            raise ClipOutOfRangeError(
                f"{self.name}: clip [{float(start_sec):.3f}, {float(end_sec):.3f}) s needs IMU samples from "
                f"{float(grid[0]):.3f} to {float(grid[-1]):.3f} s, but the recording covers "
                f"[{self.start_sec:.3f}, {self.end_sec:.3f}] s of video time (time_offset_sec={self.time_offset_sec})"
            )
        times = self._times
        t = (grid + self.time_offset_sec).clamp(times[0], times[-1])
        right = torch.searchsorted(times, t, right=True).clamp(1, len(times) - 1)
        left = right - 1
        weight = (t - times[left]) / (times[right] - times[left])
        values = self._values.to(torch.float64)
        return (values[:, left] * (1 - weight) + values[:, right] * weight).to(torch.float32)


def _time_column(path: str, header: list[str], column: str | None, unit: str | None) -> tuple[str, float]:
    """The time column and the factor from its unit to seconds."""
    if column is None:
        named = [h for h in header if TIME_COLUMN.match(h)]
        if not named:
            raise annotation_error(path, 1, f"header {header} has no time column; pass time_column=")
        column = EGO4D_TIME_COLUMN if EGO4D_TIME_COLUMN in named else named[0]
    elif column not in header:
        raise annotation_error(path, 1, f"header {header} lacks the time column {column!r}")
    if unit is None:
        match = TIME_COLUMN.match(column)
        unit = match["unit"] if match else None
        if unit is None:
            raise annotation_error(
                path, 1, f"cannot tell the unit of time column {column!r}; pass time_unit='s' or 'ms'"
            )
    return column, TIME_UNITS[unit.lower()]


def _finite(path: str, line: int, field: str, value: str) -> float:
    if value.lower() in MISSING_VALUES:
        raise annotation_error(path, line, f"field {field!r} has no value ({value!r}); IMU rows must be complete")
    number = parse_number(path, line, field, value)
    if not math.isfinite(number):
        raise annotation_error(path, line, f"field {field!r} is {value!r}; expected a finite number")
    return number


class IMUStream:
    """Adds ``"imu"`` (float32 ``[C, T]``) to the samples of videos whose info has ``"imu_path"``.

    A clip stream of :class:`~vidray.data.labeled_video_dataset.LabeledVideoDataset`:
    the IMU clip covers the same window as the sample's ``"video"``. The
    arguments apply to every video; a video's ``info["imu_options"]`` may
    override them (typically ``{"time_offset_sec": ...}``). A clip outside
    the recording skips the sample like an unreadable video.

    Args:
        sample_rate / num_samples: the clip's sample grid (see
            :meth:`IMUData.sample_times`); default ``DEFAULT_IMU_SAMPLE_RATE``.
        channels / time_column / time_unit / time_offset_sec: as in :meth:`IMUData.from_csv`.
    """

    info_keys = frozenset({IMU_PATH_KEY, IMU_OPTIONS_KEY})
    read_options = ("channels", "time_column", "time_unit", "time_offset_sec")
    grid_options = ("sample_rate", "num_samples")

    def __init__(
        self,
        sample_rate: float | None = None,
        num_samples: int | None = None,
        channels: Sequence[str] | None = None,
        time_column: str | None = None,
        time_unit: str | None = None,
        time_offset_sec: float = 0.0,
    ) -> None:
        if sample_rate is None and num_samples is None:
            sample_rate = DEFAULT_IMU_SAMPLE_RATE
        self._grid = {"sample_rate": sample_rate, "num_samples": num_samples}
        self._read = {
            "channels": tuple(channels) if channels is not None else None,
            "time_column": time_column,
            "time_unit": time_unit,
            "time_offset_sec": float(time_offset_sec),
        }
        self._open: tuple[tuple[Any, ...], IMUData] | None = None

    def load_clips(self, info: dict[str, Any], video: Video, windows: Sequence[ClipWindow]) -> list[dict[str, Any]]:
        """``{"imu": ...}`` per window; empty dicts when ``info`` names no IMU file."""
        if IMU_PATH_KEY not in info:
            return [{} for _ in windows]
        path = str(info[IMU_PATH_KEY])
        options = dict(info.get(IMU_OPTIONS_KEY) or {})
        unknown = sorted(set(options) - set(self.read_options) - set(self.grid_options))
        if unknown:
            raise ConfigError(
                f"{path}: unknown {IMU_OPTIONS_KEY} {unknown}; expected some of "
                f"{list(self.read_options + self.grid_options)}"
            )
        read = {k: options.get(k, default) for k, default in self._read.items()}
        if read["channels"] is not None:
            read["channels"] = tuple(read["channels"])
        grid = {k: options.get(k) for k in self.grid_options} if set(options) & set(self.grid_options) else self._grid
        imu = self._imu(path, read)
        return [{"imu": imu.get_clip(w.start_sec, w.end_sec, **grid)} for w in windows]

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers re-read the CSV they need rather than receive a copy of the last one parsed.
        return {**self.__dict__, "_open": None}

    def _imu(self, path: str, read: dict[str, Any]) -> IMUData:
        """The parsed CSV, reusing the last one (consecutive clips usually share it)."""
        key = (path, read["channels"], read["time_column"], read["time_unit"], float(read["time_offset_sec"]))
        if self._open is None or self._open[0] != key:
            self._open = (key, IMUData.from_csv(path, **read))
        return self._open[1]
