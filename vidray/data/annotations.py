"""Reading annotation files with errors that name the file and line."""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Iterator, Sequence

from vidray import io as vio
from vidray.errors import AnnotationError, MediaNotFoundError, UnknownLabelError


def read_lines(uri: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for each non-empty line."""
    text = read_annotation_text(uri)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


def read_annotation_text(uri: str | os.PathLike[str]) -> str:
    if not vio.exists(uri):
        raise MediaNotFoundError(f"{uri}: annotation file not found")
    return vio.read_text(uri, encoding="utf-8-sig")


def read_csv_rows(
    uri: str | os.PathLike[str], required: Sequence[str], delimiter: str = ",", text: str | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a CSV with a header naming at least ``required``.

    ``text`` is the file's content when the caller has already read it.
    """
    text = read_annotation_text(uri) if text is None else text
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise AnnotationError(f"{uri}:1: header {header} lacks column(s) {missing}; expected {list(required)}")
    reader.fieldnames = header
    for row in reader:
        line = reader.line_num
        if None in row or any(row.get(c) is None for c in required):
            raise AnnotationError(f"{uri}:{line}: expected {len(header)} fields {header}, got {_raw(row)}")
        yield line, {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def _raw(row: dict[Any, Any]) -> list[Any]:
    values = [v for k, v in row.items() if k is not None and v is not None]
    return values + list(row.get(None) or [])


def annotation_error(uri: str | os.PathLike[str], line: int, reason: str) -> AnnotationError:
    return AnnotationError(f"{uri}:{line}: {reason}")


def parse_number(uri: str | os.PathLike[str], line: int, field: str, value: str, kind: type = float) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise annotation_error(uri, line, f"field {field!r} must be {kind.__name__}, got {value!r}") from None


def label_of(uri: str | os.PathLike[str], line: int, name: str, classes: dict[str, int]) -> int:
    try:
        return classes[name]
    except KeyError:
        raise UnknownLabelError(
            f"{uri}:{line}: unknown label {name!r} (the label map has {len(classes)} classes)"
        ) from None


def class_index(names: Sequence[str]) -> dict[str, int]:
    """Class name -> index for sorted unique names (the convention of Kinetics, HMDB51, ...)."""
    return {name: i for i, name in enumerate(sorted(set(names)))}
