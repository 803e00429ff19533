"""Measured results kept in sqlite, so a program measured once is not measured again.

The key is what determines a measurement: the program's bytes (sha256), the
device kind, the runtime version and the thread count. One connection per
operation: the farm's dispatcher thread writes while callers read, and several
processes (Tune trials) may share the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from typing import Iterator

from vidray.errors import FarmError
from vidray.farm.result import LatencyResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    program_sha256 TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    runtime_version TEXT NOT NULL,
    threads INTEGER NOT NULL,
    result TEXT NOT NULL,
    measured_at REAL NOT NULL,
    PRIMARY KEY (program_sha256, device_kind, runtime_version, threads)
)
"""


class ResultCache:
    """``get`` a stored result or ``put`` a new one; the first result for a key is kept."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with self._transaction() as connection:
            connection.execute(_SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise FarmError(f"result cache {self.path}: cannot open ({exc})") from None
        try:
            with connection:  # commits, or rolls back on an error
                yield connection
        finally:
            connection.close()

    def get(self, sha256: str, kind: str, runtime_version: str, threads: int) -> LatencyResult | None:
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT result FROM results WHERE program_sha256 = ? AND device_kind = ? AND runtime_version = ? "
                "AND threads = ?", (sha256, kind, runtime_version, threads)).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        record.update(cached=True, faults=())
        return LatencyResult.from_dict(record)

    def put(self, result: LatencyResult) -> None:
        record = json.dumps({**result.as_dict(), "cached": False, "faults": []})
        with self._transaction() as connection:
            connection.execute("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                               (result.program_sha256, result.device_kind, result.runtime_version, result.threads,
                                record, time.time()))
