"""A data file's bytes, gunzipped where its first two bytes say gzip (``train-images-idx3-ubyte.gz``,
``rows.csv.gz``, as NumPy's and pandas' readers take them), whatever its name."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from optimlab.errors import InvalidValueError

__all__ = ["GZIP_MAGIC", "file_bytes"]

GZIP_MAGIC = b"\x1f\x8b"


def file_bytes(path: Path) -> bytes:
    """The bytes of the file at ``path``, decompressed where it is gzipped."""
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:  # cut short, or not gzip after all
        raise InvalidValueError(
            f"gzip file {path.name}", f"damaged ({error})", "a whole gzip file (download it again)"
        ) from None
