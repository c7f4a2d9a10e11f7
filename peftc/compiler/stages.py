"""Pipelines: the order of a spec's stages, and the ``${...}`` references that carry one
stage's values into the next.

The references a value may hold are the one table ``REFERENCES``: every reader and writer of
``${...}`` goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from peftc.compiler.layers import derived
from peftc.compiler.resolved import ResolvedRun
from peftc.diagnostics import ERROR, Diagnostic, PeftcError, did_you_mean

REFERENCES = {
    # ${stages.NAME.KEY}: the value KEY has in stage NAME of the same sweep point
    "stages": re.compile(r"\$\{stages\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}"),
    # ${run:ID}: the output folder of run ID, until the folder is known (a run's id must not
    # depend on where OUT is)
    "run": re.compile(r"\$\{run:([^}]+)\}"),
}


def refers(value: Any) -> bool:
    """The value holds a reference, to be resolved once the stage it names has run."""
    return isinstance(value, str) and "${" in value and any(
        p.search(value) for p in REFERENCES.values())


def stages_named(values: Iterable[Any]) -> list[str]:
    """The stages that ``${stages.NAME.KEY}`` references in ``values`` name, in order."""
    return [m.group(1) for v in values if isinstance(v, str)
            for m in REFERENCES["stages"].finditer(v)]


def substitute(kind: str, value: str, replace: Callable[[re.Match[str]], str]) -> str:
    return REFERENCES[kind].sub(replace, value)


def run_output(run_id: str) -> str:
    """The reference to run ``run_id``'s output folder."""
    return "${run:" + run_id + "}"


def stage_order(stages: dict[str, dict[str, Any]], names: list[str | None],
                locate: Callable[[tuple[Any, ...]], tuple[str, int, int]]) -> list[str | None]:
    """The stages in dependency order (``depends_on`` and references); an unknown stage or a
    cycle raises one PeftcError with every such problem."""
    if names == [None]:
        return names
    problems: list[Diagnostic] = []
    deps: dict[str, list[str]] = {}
    for name in names:
        body = stages[name]
        deps[name] = list(dict.fromkeys([*body.get("depends_on", []),
                                         *stages_named(body.values())]))
        for dep in deps[name]:
            if dep not in stages or dep == name:
                f, ln, c = locate(("stages", name))
                problems.append(Diagnostic(
                    "E321", ERROR, f"stage '{name}' depends on unknown stage '{dep}'"
                    f"{did_you_mean(dep, [s for s in stages if s != name])}",
                    file=f, line=ln, col=c))
    order: list[str] = []
    visiting: set[str] = set()

    def visit(n: str) -> None:
        if n in order:
            return
        if n in visiting:
            f, ln, c = locate(("stages", n))
            problems.append(Diagnostic("E322", ERROR, f"stages depend on each other in a "
                                       f"cycle through '{n}'", file=f, line=ln, col=c))
            return
        visiting.add(n)
        for d in deps[n]:
            if d in stages and d != n:
                visit(d)
        visiting.discard(n)
        order.append(n)

    for n in names:
        visit(n)
    if problems:
        raise PeftcError(problems)
    return order


def interpolate(run: ResolvedRun, done: dict[str, ResolvedRun]) -> None:
    """Replace ``${stages.NAME.KEY}`` with the earlier stage's value of this sweep point.

    An earlier stage's output_dir becomes ``${run:ID}`` until that run's folder is known,
    so a run's id depends on its dependency's id, never on where OUT is.
    """
    for key, value in list(run.values.items()):
        if not refers(value):
            continue

        def sub(m: re.Match[str]) -> str:
            dep = done.get(m.group(1))
            if dep is None:
                return m.group(0)
            if m.group(2) == "output_dir":
                return run_output(dep.run_id)
            return str(dep.values.get(m.group(2)))

        run.values[key] = substitute("stages", value, sub)
    run.depends_on = [done[s].run_id for s in run.stage_deps if s in done]
    sft = run.values.get("sft_adapter")
    if sft:
        # a DPO round that starts from an earlier round merges the whole chain in order
        m = REFERENCES["run"].fullmatch(sft)
        dep = next((d for d in done.values() if m and d.run_id == m.group(1)), None)
        chain = [*(dep.values.get("sft_adapter_chain") or []), sft] if dep else [sft]
        run.values["sft_adapter_chain"] = chain
        run.sources["sft_adapter_chain"] = derived(
            "adapters to merge before training, in order", run.loc("sft_adapter"))


def fill_outputs(run: ResolvedRun, outputs: dict[str, str]) -> None:
    """Replace ``${run:ID}`` in the adapters to merge with the output folders now known."""
    def path_of(m: re.Match[str]) -> str:
        return outputs.get(m.group(1), m.group(0))

    for key in ("sft_adapter", "sft_adapter_chain"):
        value = run.values.get(key)
        if isinstance(value, str):
            run.values[key] = substitute("run", value, path_of)
        elif isinstance(value, list):
            run.values[key] = [substitute("run", v, path_of) for v in value]
