"""The layers a run's values come from, and the record of where each value came from.

A run's value of a key is the one of the highest layer that sets it (``Layer``, lowest first).
Each value keeps a ``Source``: its layer, a label for people (provenance.json's ``source``)
and the place in a spec file to report a finding about it. ``merge`` lays one ``Overlay``
over the values so far and records, for ``peftc explain``, every layer's value of each key.

This module is the only one that orders layers; everything else asks a ``Source``
(``source.written``, ``source.layer is Layer.STAGE``, ``a.above(b)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from peftc.schema.validate import schema

Loc = tuple[str, int, int]


class Layer(IntEnum):
    """Where a value comes from, lowest first: a higher layer's value wins, and a derivation
    does not override a value set in a higher layer than its inputs (a target batch set by a
    profile does not override gradient_accumulation_steps written in the spec)."""

    DEFAULT = 0  # the schema's defaults: Axolotl's own where Axolotl has one
    PROFILE = 1  # the train profile
    TASK = 2  # the task plugin
    METHOD = 3  # the adapter method's preset
    SPEC = 4  # the spec, after the files it extends
    STAGE = 5  # the pipeline stage
    SWEEP = 6  # the sweep point
    CLI = 7  # --set on the command line
    DERIVED = 8  # computed from other values

    @property
    def written(self) -> bool:
        """The user set it: in the spec, a stage, the sweep, the command line, or by choosing
        the profile; not a default, a task's or a method's preset, or a derivation."""
        return self in (Layer.PROFILE, Layer.SPEC, Layer.STAGE, Layer.SWEEP, Layer.CLI)


class Source(NamedTuple):
    """Where a value came from: ``label`` for people, ``loc`` for diagnostics."""

    label: str
    loc: Loc
    layer: Layer

    @property
    def written(self) -> bool:
        return self.layer.written

    def above(self, other: Source) -> bool:
        """This value was set in a higher layer than ``other``."""
        return self.layer > other.layer


def derived(formula: str, loc: Loc) -> Source:
    """The source of a value computed by ``formula`` (provenance.json: ``derived: ...``)."""
    return Source(f"derived: {formula}", loc, Layer.DERIVED)


@dataclass
class Overlay:
    """One layer's values for a run: ``values`` by top-level key, and ``patches`` that set
    one leaf of a key (``datasets.0.path``); ``locate`` maps a key path to its place."""

    layer: Layer
    label: str
    values: dict[str, Any]
    locate: Callable[[tuple[Any, ...]], Loc]
    patches: list[tuple[tuple[Any, ...], Any]] = field(default_factory=list)
    # sources made so far: the defaults' and the spec's overlays serve every run of a sweep
    _made: dict[tuple[Any, ...], Source] = field(default_factory=dict, repr=False)

    def source(self, path: tuple[Any, ...]) -> Source:
        """The source of the value this layer gives ``path``: a spec or stage value is
        labelled with its place, a default with whose default it is."""
        made = self._made.get(path)
        if made is None:
            if self.layer in (Layer.SPEC, Layer.STAGE):
                f, ln, c = self.locate(path)
                made = Source(f"spec:{f}:{ln}:{c}", (f, ln, c), self.layer)
            else:
                label = default_label(path[0]) if self.layer is Layer.DEFAULT else self.label
                made = Source(label, self.locate(path), self.layer)
            self._made[path] = made
        return made


# mappings merged key by key; everything else is replaced whole
DEEP = {"lr_scheduler_kwargs", "loftq_config", "fsdp"}


def merge(values: dict[str, Any], sources: dict[str, Source],
          history: dict[str, list[tuple[Source, Any]]], layer: Overlay) -> None:
    """Lay ``layer`` over ``values``, recording the source of each value it sets and, in
    ``history``, every layer's value of each key in order."""
    for key, value in layer.values.items():
        source = layer.source((key,))
        history.setdefault(key, []).append((source, value))
        if key in DEEP and isinstance(value, dict) and isinstance(values.get(key), dict):
            merged = dict(values[key])
            for sub, subval in value.items():
                merged[sub] = subval
                sources[f"{key}.{sub}"] = layer.source((key, sub))
            values[key] = merged
            continue
        values[key] = value
        sources[key] = source
        if isinstance(value, dict):
            for sub in value:
                sources[f"{key}.{sub}"] = layer.source((key, sub))
        elif isinstance(value, list):  # a datasets entry is located on its own line
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    sources[f"{key}.{i}"] = layer.source((key, i))
    for path, value in layer.patches:
        # a dotted key (datasets.0.path, lr_scheduler_kwargs.min_lr_rate) sets one leaf of a
        # copy of the lower layers' value
        source = layer.source(path)
        history.setdefault(".".join(map(str, path)), []).append((source, value))
        head = path[0]
        base = json.loads(json.dumps(values[head])) if values.get(head) is not None else (
            [] if isinstance(path[1], int) else {})
        holder = {head: base}
        set_path(holder, path, value)
        values[head] = holder[head]
        sources[".".join(map(str, path))] = source


def set_path(target: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``target[path[0]][path[1]]...`` to ``value``, making dicts and lists on the way."""
    node: Any = target
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict):
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            while len(node) <= part:
                node.append({})
            node = node[part]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value


def default_label(key: str) -> str:
    """``default:axolotl`` where peftc's default is Axolotl's own, ``default:peftc`` where
    Axolotl has none (lora_r, lora_alpha) or the key is peftc's."""
    origin = schema()["properties"].get(key, {}).get("defaultFrom", "peftc")
    return f"default:{origin}"


def schema_defaults() -> dict[str, Any]:
    """The DEFAULT layer: every top-level key's schema default."""
    return {k: p["default"] for k, p in schema()["properties"].items()
            if "default" in p and not k.startswith("$") and k not in ("profile",)}
