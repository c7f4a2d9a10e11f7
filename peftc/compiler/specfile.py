"""Read a spec and the files it `extends`, validate each, and hand back their layers.

A spec and its bases are kept as separate layers (base first) so every value can still say
which file and line it came from. Structural sections merge by name: `profiles` and `stages`
of a child add to or replace its bases' entries, `sweep` and `cluster` of the child win,
`lint.ignore` lists add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peftc.diagnostics import ERROR, Diagnostic, PeftcError
from peftc.schema.loader import Document, load_file
from peftc.schema.spec import ALIASES, STRUCTURAL
from peftc.schema.validate import unset_nulls, valid_part
from peftc.vocab.keys import Way, spelled_as, value_way, way


@dataclass
class Layer:
    """One file's run settings (aliases renamed to their canonical key)."""

    doc: Document
    settings: dict[str, Any]
    key_names: dict[str, str]  # canonical key -> key as written (for locating)

    def locate(self, path: tuple[Any, ...]) -> tuple[str, int, int]:
        first = self.key_names.get(path[0], path[0]) if path else None
        real = (first, *path[1:]) if path else ()
        line, col = self.doc.srcmap.locate(real)
        return (self.doc.file, line, col)


@dataclass
class Spec:
    """A spec file with its bases: settings layers plus the merged structural sections."""

    path: Path
    layers: list[Layer]  # lowest first; the spec itself is last
    structure: dict[str, Any] = field(default_factory=dict)
    structure_layer: dict[str, Layer] = field(default_factory=dict)  # section -> defining layer
    warnings: list[Diagnostic] = field(default_factory=list)  # found while loading (W204, W205)
    errors: list[Diagnostic] = field(default_factory=list)  # schema errors; values left out
    left_out: set[str] = field(default_factory=set)  # the settings those values were

    @property
    def main(self) -> Layer:
        return self.layers[-1]

    @property
    def file(self) -> str:
        return self.main.doc.file

    def locate_structural(self, path: tuple[Any, ...], *, key: bool = False
                          ) -> tuple[str, int, int]:
        layer = self.structure_layer.get(path[0], self.main) if path else self.main
        line, col = layer.doc.srcmap.locate(path, key=key)
        return (layer.doc.file, line, col)


def canonical(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings of a mapping with aliases renamed; structural keys dropped."""
    out: dict[str, Any] = {}
    names: dict[str, str] = {}
    for key, value in data.items():
        if key in STRUCTURAL or key in ("stages", "depends_on") or way(key) is Way.HINT:
            continue  # a hint (W204) reaches no run
        if (value_way(key, value) or (None,))[0] is Way.HINT:
            continue
        spelled = spelled_as(key, value)
        if spelled is not None:  # a key the spec sets itself wins over the one spelled here
            for canon, setting in spelled.items():
                out.setdefault(canon, setting)
                names.setdefault(canon, key)
            continue
        canon = ALIASES.get(key, key)
        out[canon] = value
        names[canon] = key
    return out, names


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_spec(path: str | Path) -> Spec:
    """Load, validate and layer a spec. A file that cannot be read or parsed raises one
    PeftcError with every problem found; values the schema refuses are left out of the
    layers and kept, located, in ``Spec.errors`` (the caller reports them with the rest)."""
    problems: list[Diagnostic] = []
    schema_errors: list[Diagnostic] = []
    left_out: set[str] = set()
    docs: list[Document] = []
    _collect(Path(path), docs, problems, schema_errors, left_out, chain=())
    if any(d.is_error for d in problems):
        problems.extend(schema_errors)
        raise PeftcError(problems, exit_code=max(
            (2 if d.code == "E005" and len(problems) == 1 else 1) for d in problems))
    layers = []
    for doc in docs:
        settings, names = canonical(doc.data)
        layers.append(Layer(doc, settings, names))
    spec = Spec(Path(path), layers, warnings=problems, errors=schema_errors, left_out=left_out)
    for layer in layers:  # base first, so the child overrides
        data = layer.doc.data
        for section in ("profiles", "stages"):
            if section in data:
                spec.structure.setdefault(section, {}).update(data[section])
                spec.structure_layer[section] = layer
        for section in ("sweep", "cluster", "name", "profile"):
            if section in data:
                spec.structure[section] = data[section]
                spec.structure_layer[section] = layer
        if "lint" in data:
            lint = spec.structure.setdefault("lint", {"ignore": [], "severity": {}})
            lint["ignore"] = [*lint["ignore"], *data["lint"].get("ignore", [])]
            lint["severity"] = {**lint["severity"], **data["lint"].get("severity", {})}
            spec.structure_layer["lint"] = layer
    return spec


def _collect(path: Path, docs: list[Document], problems: list[Diagnostic],
             schema_errors: list[Diagnostic], schema_left_out: set[str],
             chain: tuple[Path, ...],
             via: tuple[str, int, int] | None = None) -> None:
    real = path.resolve()
    if real in chain:
        file, line, col = via or (str(path), 0, 0)
        cycle = " -> ".join(p.name for p in (*chain, real))
        problems.append(Diagnostic("E301", ERROR, f"'extends' cycle: {cycle}",
                                   file=file, line=line, col=col))
        return
    if any(d.path and d.path.resolve() == real for d in docs):
        return  # a diamond: the shared base is layered once, at its first place
    if via and not path.exists():
        file, line, col = via
        problems.append(Diagnostic("E302", ERROR, f"extended file not found: {path}",
                                   file=file, line=line, col=col))
        return
    try:
        doc = load_file(path, display=_display(path))
    except PeftcError as exc:
        problems.extend(exc.diagnostics)
        return
    # One pass: a value the schema refuses is reported and left out, and the rest goes on
    # to the semantic checks and the advisor (load_spec keeps the errors on the Spec).
    found, doc.data, left_out = valid_part(unset_nulls(doc.data), doc.srcmap)
    schema_errors.extend(d for d in found if d.is_error)
    schema_left_out.update(left_out)
    problems.extend(d for d in found if not d.is_error)  # W204, W205, I401
    bases = doc.data.get("extends", [])
    for i, base in enumerate([bases] if isinstance(bases, str) else bases):
        where = ("extends",) if isinstance(bases, str) else ("extends", i)
        line, col = doc.srcmap.locate(where)
        _collect(path.parent / base, docs, problems, schema_errors, schema_left_out,
                 (*chain, real), (doc.file, line, col))
    docs.append(doc)
