"""Which settings a check read, so that lint's one pass can leave out what depends on a bad
value.

When the schema refuses a value, lint reports it and resolves the spec without it; a check
that reads that setting would then judge a default the spec never asked for, and report a
second, misleading problem. A run's values are kept in a `ReadLog` when something was left
out; each check starts with `ReadLog.start` and its findings are dropped when `depends_on`
says it read a setting left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ReadLog(dict[str, Any]):
    """A run's values that remember the keys read since the last `start`."""

    def __init__(self, values: dict[str, Any]):
        super().__init__(values)
        self.reads: set[str] = set()

    def start(self) -> None:
        self.reads.clear()

    def __getitem__(self, key: str) -> Any:
        self.reads.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.reads.add(key)
        return super().__contains__(key)


def start(values: dict[str, Any]) -> None:
    """Begin one check's log (nothing to do when the values are a plain dict)."""
    if isinstance(values, ReadLog):
        values.start()


def depends_on(values: dict[str, Any], left_out: Iterable[str], *keys: str) -> bool:
    """Whether the check since `start` read (or blames) a setting left out."""
    left = set(left_out)
    if not left:
        return False
    read = values.reads if isinstance(values, ReadLog) else set()
    return not left.isdisjoint(read) or not left.isdisjoint(keys)
