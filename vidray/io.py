"""Uniform access to local paths and ``s3://`` URIs.

Every place in vidray that accepts a path goes through these functions, so S3
works wherever a local path does. boto3 is imported only when an ``s3://`` URI
is actually used; the endpoint comes from boto3's own configuration
(``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for S3-compatible stores).
"""

from __future__ import annotations

import io
import os
import posixpath
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable

from vidray.errors import DataError, MediaNotFoundError

S3_PREFIX = "s3://"


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith(S3_PREFIX)


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Joins path components; ``s3://`` URIs join with ``/`` on every platform."""
    base = str(base)
    if is_s3(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def basename(uri: str | os.PathLike[str]) -> str:
    return posixpath.basename(str(uri).rstrip("/")) if is_s3(uri) else os.path.basename(str(uri))


def dirname(uri: str | os.PathLike[str]) -> str:
    return posixpath.dirname(str(uri).rstrip("/")) if is_s3(uri) else os.path.dirname(str(uri))


def exists(uri: str | os.PathLike[str]) -> bool:
    if not is_s3(uri):
        return os.path.exists(uri)
    bucket, key = _split_s3(str(uri))
    if _s3_object_exists(bucket, key):
        return True
    return bool(_s3_list(bucket, key.rstrip("/") + "/", max_keys=1))


def is_dir(uri: str | os.PathLike[str]) -> bool:
    if not is_s3(uri):
        return os.path.isdir(uri)
    bucket, key = _split_s3(str(uri))
    return bool(_s3_list(bucket, key.rstrip("/") + "/" if key else "", max_keys=1))


def list_dir(uri: str | os.PathLike[str]) -> list[str]:
    """Sorted names (not paths) of the entries directly inside a folder or S3 prefix."""
    if not is_s3(uri):
        if not os.path.isdir(uri):
            raise MediaNotFoundError(f"{uri}: no such directory")
        return sorted(os.listdir(uri))
    bucket, key = _split_s3(str(uri))
    prefix = key.rstrip("/") + "/" if key else ""
    names = {k[len(prefix):].split("/", 1)[0] for k in _s3_list(bucket, prefix)}
    if not names:
        raise MediaNotFoundError(f"{uri}: no such S3 prefix (or it is empty)")
    return sorted(n for n in names if n)


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    if not is_s3(uri):
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError:
            raise MediaNotFoundError(f"{uri}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{uri}: is a directory, expected a file") from None
        except OSError as exc:  # permissions, symlink loops, network file systems
            raise DataError(f"{uri}: cannot read ({exc.strerror or exc})") from None
    bucket, key = _split_s3(str(uri))
    client = _s3_client()
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        raise MediaNotFoundError(f"{uri}: no such S3 object") from None
    except client.exceptions.ClientError as exc:  # access denied, throttling, ...
        raise DataError(f"{uri}: cannot read from S3 ({exc})") from None


def read_text(uri: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    try:
        return read_bytes(uri).decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{uri}: not a {encoding} text file ({exc})") from None


def open_binary(uri: str | os.PathLike[str]) -> BinaryIO:
    """A seekable binary file object; S3 objects are fetched into memory once."""
    if is_s3(uri):
        return io.BytesIO(read_bytes(uri))
    try:
        return open(uri, "rb")
    except FileNotFoundError:
        raise MediaNotFoundError(f"{uri}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{uri}: is a directory, expected a file") from None
    except OSError as exc:
        raise DataError(f"{uri}: cannot read ({exc.strerror or exc})") from None


def write_bytes(uri: str | os.PathLike[str], data: bytes) -> None:
    """Writes a whole file; local writes go through a temporary name so readers never see half a file."""
    if is_s3(uri):
        bucket, key = _split_s3(str(uri))
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def first_unused(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, else ``name-2``, ``name-3``, ...: the first that ``taken`` says is free (never overwrite)."""
    candidate, index = name, 1
    while taken(candidate):
        index += 1
        candidate = f"{name}-{index}"
    return candidate


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri[len(S3_PREFIX):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise DataError(f"{uri}: an S3 URI needs a bucket, e.g. s3://bucket/key")
    return bucket, key


@lru_cache(maxsize=1)
def _s3_client() -> Any:
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - boto3 is a declared dependency
        raise DataError("s3:// URIs need boto3 (pip install boto3)") from exc
    return boto3.client("s3")


def _s3_object_exists(bucket: str, key: str) -> bool:
    if not key:
        return False
    client = _s3_client()
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except client.exceptions.ClientError:
        return False


def _s3_list(bucket: str, prefix: str, max_keys: int | None = None) -> list[str]:
    client = _s3_client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
        if max_keys is not None and len(keys) >= max_keys:
            break
    return keys
