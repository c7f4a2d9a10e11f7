"""`peftc lint --fix`: rewrite, in the spec's own text, what has exactly one right answer.

- a misspelt key with a single close match (E100);
- a YAML 1.1 boolean word (`yes`, `no`, `on`, `off`) in a boolean key: true/false (W215);
- a key given together with its alias, with the same value: the alias goes (E106);
- an old Axolotl spelling that peftc names differently: the current name (W205);
- `warmup_ratio` beside `warmup_steps`, which wins (W203): the ratio goes; `warmup_ratio`
  with `max_steps` in the same file: the warmup steps Axolotl counts from it.

Edits are made at the offsets the loader recorded for each key and value (SourceMap.spans),
so comments, order, quoting and blank lines outside the edited spans stay byte for byte.
An edit that would touch a flow mapping, an alias or a merged key is not made. (ruamel.yaml
round-trips YAML too, but it re-emits whole documents: indentation and quoting can change
where nothing was edited.)
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peftc.schema.loader import Document, load_text
from peftc.schema.spec import ALIASES
from peftc.schema.validate import accepts_bool, subschema, yaml11_word
from peftc.vocab.datasets import DPO_RENAMED
from peftc.vocab.keys import KEYS, Way, record

CUTOFF = 0.8  # a key is renamed only when it is the one known key this close


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new``; ``line``/``col`` and ``message`` say what,
    ``code`` which finding it mends (empty for a rewrite that mends none)."""

    start: int
    end: int
    new: str
    line: int
    col: int
    code: str
    message: str


def plan(doc: Document, text: str) -> list[Edit]:
    """Every fix for one loaded document, without overlaps, in text order."""
    planner = _Planner(doc, text)
    data = doc.data
    for path, mapping in _mappings(data):
        planner.keys(path, mapping)
    planner.booleans()
    planner.warmup(data)
    edits, end = [], -1
    for edit in sorted(planner.edits, key=lambda e: (e.start, e.end)):
        if edit.start >= end:  # two fixes of one span: the first wins, the next run does more
            edits.append(edit)
            end = edit.end
    return edits


def apply(text: str, edits: list[Edit]) -> str:
    out, at = [], 0
    for edit in edits:
        out += [text[at:edit.start], edit.new]
        at = edit.end
    return "".join([*out, text[at:]])


@dataclass
class Fixed:
    """What ``fix_file`` did to one file."""

    path: Path
    before: str
    after: str
    edits: list[Edit]

    def diff(self) -> str:
        name = str(self.path)
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}"))


def fix_file(path: Path, *, write: bool) -> Fixed | None:
    """Plan (and with ``write``, make) the fixes of one spec; None when it cannot be read or
    parsed (lint reports why)."""
    from peftc.diagnostics import PeftcError

    try:
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        doc = load_text(text, str(path))
    except (OSError, UnicodeDecodeError, PeftcError):
        return None
    edits = plan(doc, text)
    after = apply(text, edits)
    if write and edits:
        _write(path, ("\ufeff" if bom else "") + after)
    return Fixed(path, text, after, edits)


def _write(path: Path, text: str) -> None:
    """Replace the file at once (a crash leaves the old file or the new one, never half)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mappings(data: dict[str, Any]):
    """The mappings whose keys are settings: the top level, dataset entries, stages."""
    yield (), data
    for i, entry in enumerate(data.get("datasets") or []):
        if isinstance(entry, dict):
            yield ("datasets", i), entry
    stages = data.get("stages")
    if isinstance(stages, dict):
        for name, stage in stages.items():
            if isinstance(stage, dict):
                yield ("stages", name), stage
                for i, entry in enumerate(stage.get("datasets") or []):
                    if isinstance(entry, dict):
                        yield ("stages", name, "datasets", i), entry


class _Planner:
    def __init__(self, doc: Document, text: str):
        self.spans = doc.srcmap.spans
        self.srcmap = doc.srcmap
        self.text = text
        self.edits: list[Edit] = []

    def _add(self, start: int, end: int, new: str, code: str, message: str) -> None:
        line = self.text.count("\n", 0, start) + 1
        col = start - (self.text.rfind("\n", 0, start) + 1) + 1
        self.edits.append(Edit(start, end, new, line, col, code, message))

    def _plain_value(self, path: tuple[Any, ...]) -> tuple[int, int] | None:
        """The value's span, when it is written right after its key (no alias, no tag)."""
        span = self.spans.get(path)
        if span is None:
            return None
        key_start, key_end, start, end = span
        between = self.text[key_end:start]
        if between.strip() != ":" or start <= key_end or self.text[start] in "&*!":
            return None  # an anchor, an alias or a tag: the value is not only here
        return start, end

    def _entry(self, path: tuple[Any, ...]) -> tuple[int, int] | None:
        """A block entry's whole lines (key, scalar value, its comment, the line break)."""
        span = self._plain_value(path)
        if span is None:
            return None
        key_start = self.spans[path][0]
        line_start = self.text.rfind("\n", 0, key_start) + 1
        if self.text[line_start:key_start].strip():
            return None  # "- key:" or a flow mapping: not a line of its own
        rest = self.text[span[1]:]
        eol = rest.find("\n")
        tail = rest if eol < 0 else rest[:eol]
        if tail.strip() and not tail.strip().startswith("#"):
            return None  # more on the line (a flow mapping)
        end = len(self.text) if eol < 0 else span[1] + eol + 1
        return line_start, end

    def keys(self, path: tuple[Any, ...], mapping: dict[str, Any]) -> None:
        props = set((subschema(path) or {}).get("properties", {}))
        typos: dict[str, list[str]] = {}  # the key each misspelt one would become
        for key in list(mapping):
            kpath = (*path, key)
            span = self.spans.get(kpath)
            if span is None or not isinstance(key, str):
                continue
            if key not in props and key not in ALIASES and record(path, key) is None:
                close = difflib.get_close_matches(key, props, n=2, cutoff=CUTOFF)
                if len(close) == 1 and close[0] not in mapping:
                    typos.setdefault(close[0], []).append(key)
                continue
            canonical = ALIASES.get(key)
            if canonical is None:
                if key == "type" and mapping[key] in DPO_RENAMED:
                    self._value(kpath, DPO_RENAMED[mapping[key]], "W205",
                                f"type '{mapping[key]}' is now '{DPO_RENAMED[mapping[key]]}'")
                continue
            if canonical in mapping:
                entry = self._entry(kpath)
                if mapping[canonical] == mapping[key] and entry:
                    self._add(*entry, "", "E106", f"removed '{key}', the same setting as "
                              f"'{canonical}' with the same value")
                continue
            rec = KEYS.get(key)
            if rec is not None and rec.way is Way.RENAMED and (
                    key != "relora_steps" or mapping.get("relora") is True):
                self._add(span[0], span[1], canonical, "W205",
                          f"renamed Axolotl's old '{key}' to '{canonical}'")
        for target, keys in typos.items():
            if len(keys) == 1:  # two typos of one key: which one is meant is not clear
                span = self.spans[(*path, keys[0])]
                self._add(span[0], span[1], target, "E100",
                          f"renamed '{keys[0]}' to '{target}'")

    def _value(self, path: tuple[Any, ...], new: str, code: str, message: str) -> None:
        span = self._plain_value(path)
        if span is not None:
            self._add(*span, new, code, message)

    def booleans(self) -> None:
        for path, raw in self.srcmap.yaml11_bools.items():
            if path and accepts_bool(path):
                word = yaml11_word(raw)
                self._value(path, word, "W215", f"'{raw}' written as {word}")

    def warmup(self, data: dict[str, Any]) -> None:
        ratio = data.get("warmup_ratio")
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool):
            return
        entry = self._entry(("warmup_ratio",))
        if entry is None:
            return
        if data.get("warmup_steps") is not None:
            self._add(*entry, "", "W203", "removed warmup_ratio: warmup_steps wins")
            return
        steps = data.get("max_steps")
        swept = set(data.get("sweep") or {}) | {
            k for stage in (data.get("stages") or {}).values() if isinstance(stage, dict)
            for k in stage}
        if isinstance(steps, int) and not isinstance(steps, bool) and \
                not swept & {"max_steps", "warmup_ratio", "warmup_steps"}:
            from peftc.vocab.schedulers import axolotl_warmup

            count = axolotl_warmup(ratio, steps)
            start = self.spans[("warmup_ratio",)][0]
            end = self._plain_value(("warmup_ratio",))[1]  # type: ignore[index]
            self._add(start, end, f"warmup_steps: {count}", "",
                      f"warmup_ratio {ratio} x max_steps {steps} written as warmup_steps "
                      f"{count}, as Axolotl counts it")
