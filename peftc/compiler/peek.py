"""The first rows of a local dataset file, read within bounds, so that lint can check them.

Lint reads at most PEEK_BYTES of a file and PEEK_ROWS rows (peftc/limits.py), with the
standard library only: JSON Lines, a JSON array, and CSV. Parquet and Arrow files need
pyarrow, which lint does not import; they are checked when the run loads them.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Any

from peftc.limits import PEEK_BYTES, PEEK_ROWS

READABLE = (".jsonl", ".json", ".csv")


def first_rows(path: Path) -> list[dict[str, Any]] | None:
    """Up to PEEK_ROWS rows of ``path``, or None when lint cannot read it as rows."""
    if path.suffix.lower() not in READABLE or not path.is_file():
        return None
    return _rows(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)  # a sweep checks each file once; mtime: a rewrite is reread
def _rows(path: str, mtime: int) -> list[dict[str, Any]] | None:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(PEEK_BYTES)
    cut = len(text) == PEEK_BYTES  # the last line may be cut by the byte limit
    try:
        if path.lower().endswith(".csv"):
            lines = text.splitlines(keepends=True)
            rows = list(csv.DictReader(io.StringIO("".join(lines[:-1] if cut else lines))))
        elif text.lstrip().startswith("["):
            rows = _array_items(text)
        else:  # JSON Lines (also what `datasets` reads from a .json file of lines)
            lines = text.splitlines()
            rows = [json.loads(x) for x in (lines[:-1] if cut else lines)[:PEEK_ROWS]
                    if x.strip()]
    except (ValueError, csv.Error):
        return None
    rows = rows[:PEEK_ROWS]
    return rows if rows and all(isinstance(r, dict) for r in rows) else None


def _array_items(text: str) -> list[Any]:
    """The whole items at the start of a JSON array (the text may stop mid-array)."""
    decoder = json.JSONDecoder()
    i = text.index("[") + 1
    items: list[Any] = []
    while len(items) < PEEK_ROWS:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            break
        try:
            item, i = decoder.raw_decode(text, i)
        except ValueError:
            if items:  # cut by the byte limit
                break
            raise
        items.append(item)
    return items
