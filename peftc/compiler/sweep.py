"""Sweep expansion: axes -> the ordered list of points, checked once per axis value.

`sweep:` maps keys (dotted for nested ones, `stages.NAME.key` for one stage) to lists. The
grid is the product of the axes in the order they are written, the first outermost.
`paired:` groups axes whose values move together (one axis of tuples); `exclude:` drops the
points matching every key of one of its mappings.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from peftc.diagnostics import ERROR, Diagnostic, PeftcError
from peftc.limits import EXACT_EXCLUDES
from peftc.schema.spec import settings_keys
from peftc.schema.validate import validate_value

KeyPath = tuple[Any, ...]



@dataclass(frozen=True)
class Axis:
    keys: tuple[str, ...]  # dotted names as written
    values: tuple[tuple[Any, ...], ...]  # one tuple per point, aligned with keys
    locations: tuple[tuple[str, int, int], ...]  # where each key is written


@dataclass(frozen=True)
class Point:
    """One sweep point: the dotted key -> value assignments, in axis order."""

    values: tuple[tuple[str, Any], ...]
    locations: dict[str, tuple[str, int, int]]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def split_key(dotted: str) -> KeyPath:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split("."))


def target(dotted: str) -> tuple[str | None, KeyPath]:
    """(stage or None, key path) of a sweep key."""
    path = split_key(dotted)
    if len(path) >= 3 and path[0] == "stages":
        return str(path[1]), path[2:]
    return None, path


def parse(sweep: dict[str, Any], locate, stages: dict[str, Any]) -> tuple[list[Axis], list]:
    """Axes and exclusions of a sweep section; every problem raises one PeftcError."""
    problems: list[Diagnostic] = []
    known = set(settings_keys())

    def check(dotted: str, values: list[Any], where: tuple[Any, ...],
              unique: bool = True) -> None:
        stage, path = target(dotted)
        file, line, col = locate(where)
        if stage is not None and stage not in stages:
            problems.append(Diagnostic("E311", ERROR, f"sweep key '{dotted}' names an unknown "
                                       f"stage '{stage}'", file=file, line=line, col=col))
            return
        if not path or path[0] not in known:
            from peftc.diagnostics import did_you_mean

            hint = did_you_mean(str(path[0]) if path else "", known)
            problems.append(Diagnostic("E311", ERROR, f"sweep key '{dotted}' is not a spec "
                                       f"setting{hint}", file=file, line=line, col=col))
            return
        seen = []
        for i, value in enumerate(values):
            msg = validate_value(path, value)
            if msg:
                vf, vl, vc = locate((*where, i))
                problems.append(Diagnostic("E312", ERROR, f"sweep value {i + 1} of "
                                           f"'{dotted}': {msg}", file=vf, line=vl, col=vc))
            if unique and value in seen:
                vf, vl, vc = locate((*where, i))
                problems.append(Diagnostic("E313", ERROR, f"sweep value {value!r} of "
                                           f"'{dotted}' is listed twice", file=vf, line=vl,
                                           col=vc))
            seen.append(value)

    axes: list[Axis] = []
    for key, values in sweep.items():
        if key == "exclude":
            continue
        if key == "paired":
            for g, group in enumerate(values):
                lengths = {len(v) for v in group.values()}
                if len(lengths) > 1:
                    file, line, col = locate(("sweep", "paired", g))
                    problems.append(Diagnostic("E314", ERROR, "paired axes need lists of the "
                                               f"same length, got {sorted(lengths)}",
                                               file=file, line=line, col=col))
                    continue
                for k, v in group.items():  # a value may repeat: its partners differ
                    check(k, v, ("sweep", "paired", g, k), unique=False)
                keys = tuple(group)
                rows = list(zip(*group.values(), strict=True))
                for i, row in enumerate(rows):
                    if row in rows[:i]:
                        file, line, col = locate(("sweep", "paired", g, keys[0], i))
                        problems.append(Diagnostic(
                            "E313", ERROR, "paired sweep point "
                            f"{dict(zip(keys, row, strict=True))!r} is listed twice",
                            file=file, line=line, col=col))
                axes.append(Axis(keys, tuple(zip(*group.values(), strict=True)), tuple(
                    locate(("sweep", "paired", g, k)) for k in keys)))
            continue
        check(key, values, ("sweep", key))
        axes.append(Axis((key,), tuple((v,) for v in values), (locate(("sweep", key)),)))
    excludes = sweep.get("exclude", [])
    names = {k for a in axes for k in a.keys}
    for i, ex in enumerate(excludes):
        for k in ex:
            if k not in names:
                file, line, col = locate(("sweep", "exclude", i, k))
                problems.append(Diagnostic("E315", ERROR, f"exclude key '{k}' is not a sweep "
                                           "axis", file=file, line=line, col=col))
    if problems:
        raise PeftcError(problems)
    return axes, excludes


def size(axes: list[Axis], excludes: list[dict[str, Any]]) -> tuple[int, bool]:
    """How many points the grid keeps after ``exclude``, counted from the axes without
    expanding them, and whether the count is exact. Up to EXACT_EXCLUDES exclusions it is, by
    inclusion-exclusion over their overlaps; past that it is a lower bound (each exclusion's
    points subtracted as if none overlapped)."""
    total = math.prod(len(a.values) for a in axes)
    if len(excludes) > EXACT_EXCLUDES:
        return max(0, total - sum(_matching(axes, ex) for ex in excludes)), False
    count = 0
    for r in range(len(excludes) + 1):
        for combo in itertools.combinations(excludes, r):
            both: dict[str, Any] = {}
            if all(both.setdefault(k, v) == v for ex in combo for k, v in ex.items()):
                count += (-1) ** r * _matching(axes, both)
    return count, True


def _matching(axes: list[Axis], where: dict[str, Any]) -> int:
    """How many grid points have every key of ``where`` at its value."""
    n = 1
    for axis in axes:
        fixed = [(i, where[k]) for i, k in enumerate(axis.keys) if k in where]
        n *= sum(all(vals[i] == v for i, v in fixed) for vals in axis.values)
    return n


def too_many(runs: int, axes: list[Axis], stages: int, limit: int, *, exact: bool = True,
             where: tuple[str, int, int] = ("", 0, 0)) -> PeftcError:
    """The refusal of a sweep above ``limit`` runs, with the axes that make it."""
    sizes = " x ".join(f"{' + '.join(a.keys)} {len(a.values)}" for a in axes)
    per = f" x {stages} stages" if stages > 1 else ""
    file, line, col = where
    return PeftcError(Diagnostic(
        "E316", ERROR, f"the sweep makes {'' if exact else 'at least '}{runs:,} runs "
        f"({sizes}{per}), above the limit of {limit:,}", file=file, line=line, col=col,
        hint="narrow the axes or add exclude: entries, or raise the limit with --max-runs N"))


def expand(axes: list[Axis], excludes: list[dict[str, Any]],
           limit: int | None = None) -> list[Point]:
    """The grid, first axis outermost, without excluded points; at ``limit + 1`` points it
    stops (after :func:`size` gave only a lower bound, this is how the caller finds out)."""
    if not axes:
        return [Point((), {})]
    locations = {k: loc for a in axes for k, loc in zip(a.keys, a.locations, strict=True)}
    points = []
    for combo in itertools.product(*(a.values for a in axes)):
        values = tuple((k, v) for axis, vals in zip(axes, combo, strict=True)
                       for k, v in zip(axis.keys, vals, strict=True))
        as_dict = dict(values)
        if any(all(as_dict.get(k) == v for k, v in ex.items()) for ex in excludes):
            continue
        points.append(Point(values, locations))
        if limit is not None and len(points) > limit:
            break
    return points
