"""The hyperparameter advisor: lint rules that look at resolved runs.

A rule is one small unit: a stable code, a default severity, a one-line summary, a rationale
citing the guide it comes from, a fix, and a pure `check(run)` that yields `Finding`s naming
the key responsible. `check_runs` runs every rule on every resolved run of a spec and reports
each finding once, at the spec line that set the responsible value, with how many sweep runs
it affects. Rules live in the modules of this package, grouped by topic.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from peftc.compiler import reads
from peftc.diagnostics import ERROR, Diagnostic

if TYPE_CHECKING:
    from peftc.compiler.layers import Loc
    from peftc.compiler.resolved import ResolvedRun


@dataclass(frozen=True)
class Finding:
    """A problem a rule found in one run: the key to blame and the message with numbers.
    ``loc``: where to report it when not at the key's source (a value the spec wrote and a
    derivation replaced: ``run.layered(key)``'s place)."""

    key: str
    message: str
    loc: Loc | None = None


Check = Callable[["ResolvedRun"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    summary: str
    rationale: str
    fix: str
    reference: str
    bad: str
    good: str
    check: Check


REGISTRY: dict[str, Rule] = {}
_MODULES = ("lora", "learning_rate", "dpo", "packing", "warmup", "batch", "scheduler",
            "conflicts", "model", "regularization", "adapter", "setup", "data")


def rule(code: str, name: str, *, severity: str = "warning", summary: str, rationale: str,
         fix: str, reference: str, bad: str, good: str) -> Callable[[Check], Check]:
    """Register a check function as a rule."""

    def register(check: Check) -> Check:
        if code in REGISTRY:
            raise ValueError(f"duplicate rule code {code}")
        REGISTRY[code] = Rule(code, name, severity, summary, rationale, fix, reference,
                              bad.strip("\n"), good.strip("\n"), check)
        return check

    return register


def all_rules() -> dict[str, Rule]:
    for module in _MODULES:
        try:
            importlib.import_module(f"peftc.rules.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"peftc.rules.{module}":
                raise
    return dict(sorted(REGISTRY.items()))


def _findings(runs: list[ResolvedRun], left_out: Collection[str], blocking: bool | None
              ) -> Iterator[tuple[Rule, ResolvedRun, Finding]]:
    rules = [r for r in all_rules().values()
             if blocking is None or (r.severity == ERROR) == blocking]
    for run in runs:
        for r in rules:
            reads.start(run.values)
            found = list(r.check(run))
            for finding in found:
                if not reads.depends_on(run.values, left_out, finding.key):
                    yield r, run, finding


def check_runs(runs: list[ResolvedRun], left_out: Collection[str] = (),
               blocking: bool | None = None) -> list[Diagnostic]:
    """Every finding of every rule, once per place and message, with runs affected. A
    finding that read a setting in ``left_out`` (its value refused by the schema) is not
    reported: it would judge a default the spec did not ask for. ``blocking``: only the
    rules whose findings are errors (True), or only the others (False)."""
    total = len(runs)
    seen: dict[tuple, Diagnostic] = {}
    counts: dict[tuple, set[str]] = {}
    for r, run, finding in _findings(runs, left_out, blocking):
        f, line, col = finding.loc or run.loc(finding.key)
        key = (r.code, f, line, col, finding.message)
        if key not in seen:
            seen[key] = Diagnostic(r.code, r.severity, finding.message, file=f, line=line,
                                   col=col, hint=r.fix)
            counts[key] = set()
        counts[key].add(run.run_id)
    return [replace(d, runs_affected=len(counts[k]), runs_total=total)
            for k, d in seen.items()]
