"""Safe, source-mapped YAML loading.

PyYAML builds the node graph (with its C parser where available); this module turns the
nodes into plain Python values itself, because PyYAML alone cannot give what a linter
needs: a ``line:col`` for every key and value, an error for duplicate keys (PyYAML keeps
the last silently), bounded alias expansion (a "billion laughs" file is refused at once),
and YAML 1.1 booleans (``no``, ``on``...) remembered so a string-typed key can flag them.
Plain scalars such as ``2e-4`` are floats here, as in YAML 1.2 (PyYAML reads them as strings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from peftc.diagnostics import ERROR, Diagnostic, PeftcError
from peftc.limits import MAX_DEPTH, MAX_NODES

try:  # the C parser is several times faster; fall back to pure Python when it is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

Path_ = tuple[Any, ...]

_FLOAT_12 = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)$|^[-+]?\d[\d_]*\.\d*$")
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_SUPPRESS = re.compile(r"#\s*peftc:\s*ignore\[([A-Za-z0-9_,\s]+)\]")
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


@dataclass
class SourceMap:
    """Where each key and value of a loaded document sits in its file."""

    file: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    yaml11_bools: dict[Path_, str] = field(default_factory=dict)
    # a mapping entry's (key start, key end, value start, value end) offsets in the text,
    # for `peftc lint --fix` to edit the file's own text
    spans: dict[Path_, tuple[int, int, int, int]] = field(default_factory=dict)
    suppressions: dict[int, set[str]] = field(default_factory=dict)

    def locate(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or its key), else of the nearest ancestor."""
        path = tuple(path)
        while True:
            first, second = (self.keys, self.values) if key else (self.values, self.keys)
            if path in first:
                return first[path]
            if path in second:
                return second[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def suppressed(self, line: int, code: str) -> bool:
        codes = self.suppressions.get(line)
        return bool(codes) and (code in codes or "ALL" in codes)


@dataclass
class Document:
    """A loaded YAML mapping with its source map."""

    data: dict[str, Any]
    srcmap: SourceMap
    path: Path | None = None

    @property
    def file(self) -> str:
        return self.srcmap.file


def _err(file: str, line: int, col: int, code: str, message: str, hint: str | None = None):
    return Diagnostic(code, ERROR, message, file=file, line=line, col=col, hint=hint)


class _Builder:
    """Turns a composed node graph into Python values while recording positions."""

    def __init__(self, srcmap: SourceMap):
        self.srcmap = srcmap
        self.count = 0
        self.problems: list[Diagnostic] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise PeftcError(self._at(node, "E004", (
                f"document expands to more than {MAX_NODES:,} values through aliases; refused"
            )))
        if depth > MAX_DEPTH:
            raise PeftcError(self._at(node, "E004", f"nesting deeper than {MAX_DEPTH} levels"))
        self.srcmap.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _at(self, node: yaml.Node, code: str, message: str, hint: str | None = None):
        mark = node.start_mark
        return _err(self.srcmap.file, mark.line + 1, mark.column + 1, code, message, hint)

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        seen: dict[Any, yaml.Node] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [
                    value_node]
                for src in sources:
                    value = self.build(src, path, depth + 1)
                    if not isinstance(value, dict):
                        self.problems.append(self._at(src, "E001", "'<<' merges mappings only"))
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self._at(key_node, "E001", "keys must be plain scalars"))
                continue
            key = self._scalars.construct_object(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = key_node.value
            if key in seen:
                first = seen[key].start_mark
                self.problems.append(self._at(
                    key_node, "E002",
                    f"duplicate key '{key}' (first defined at line {first.line + 1}); "
                    "YAML would silently keep only the last",
                ))
                continue
            seen[key] = key_node
            child = (*path, key)
            self.srcmap.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            self.srcmap.spans[child] = (key_node.start_mark.index, key_node.end_mark.index,
                                        value_node.start_mark.index, value_node.end_mark.index)
            out[key] = self.build(value_node, child, depth + 1)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        if node.tag == _STR_TAG and not node.style and _FLOAT_12.match(node.value):
            try:
                return float(node.value.replace("_", ""))
            except ValueError:
                return node.value
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # no key wants a date: keep the text the user wrote
        if node.tag == _BOOL_TAG and node.value.lower() in _YAML11_BOOLS:
            self.srcmap.yaml11_bools[path] = node.value
        try:
            return self._scalars.construct_object(node)
        except yaml.YAMLError:
            self.problems.append(self._at(node, "E001", f"unsupported YAML tag '{node.tag}'"))
            return None


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise PeftcError(_err(
            file, line, col, "E003",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        )) from None


def _suppressions(text: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    if "peftc:" not in text:
        return out
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _SUPPRESS.search(line)
        if m:
            out[lineno] = {c.strip().upper() for c in m.group(1).split(",") if c.strip()}
    return out


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = (exc.problem or "").strip()
    hint = None
    at = text[mark.index] if mark and mark.index < len(text) else ""
    if at == "\t" or "'\\t'" in problem:
        problem = "tab character: YAML indentation must use spaces"
        hint = "replace tabs with spaces"
    elif exc.context:
        problem = f"{problem} ({exc.context.strip()})"
    return _err(file, line, col, "E001", f"YAML syntax error: {problem}", hint)


def load_text(text: str, file: str = "<input>", *, require_mapping: bool = True) -> Document:
    """Parse YAML text into a `Document`; every problem found raises one `PeftcError`."""
    srcmap = SourceMap(file=file, suppressions=_suppressions(text))
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise PeftcError(_syntax_error(exc, file, text)) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        raise PeftcError(_err(file, 0, 0, "E001", f"YAML error: {exc}")) from None
    if node is None:
        if require_mapping:
            raise PeftcError(_err(file, 1, 1, "E003", "file is empty; a spec is a YAML mapping"))
        return Document({}, srcmap)
    builder = _Builder(srcmap)
    data = builder.build(node, ())
    if builder.problems:
        raise PeftcError(builder.problems)
    if require_mapping and not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        raise PeftcError(_err(
            file, 1, 1, "E003", f"top level must be a mapping of keys to values, not a {kind}",
        ))
    return Document(data, srcmap)


def load_file(path: str | Path, *, display: str | None = None) -> Document:
    """Read and parse a YAML file; I/O problems become a located diagnostic (exit 2)."""
    p = Path(path)
    file = display or str(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise PeftcError(_err(file, 0, 0, "E005", "is a directory, not a spec file"), 2) from None
    except OSError as exc:
        raise PeftcError(_err(file, 0, 0, "E005", f"cannot read file: {exc.strerror}"), 2) from None
    doc = load_text(_decode(raw, file), file)
    doc.path = p
    return doc
