"""`peftc explain`: where a resolved value came from, or what a diagnostic code means."""

from __future__ import annotations

import json

from peftc.diagnostics import UsageError


def explain_key(spec_path: str, key: str, run_id: str | None) -> str:
    from peftc.compiler import resolve_spec
    from peftc.compiler.layers import Layer

    compiled = resolve_spec(spec_path)
    runs = compiled.runs
    if run_id:
        runs = [r for r in runs if r.run_id == run_id or r.run_id.startswith(run_id)]
        if not runs:
            raise UsageError(f"no run '{run_id}' in {spec_path}", file=spec_path)
    lines = []
    for run in runs:
        top = key.split(".", 1)[0]
        if top not in run.values:
            from peftc.diagnostics import did_you_mean

            raise UsageError(f"no key '{key}' in the resolved run"
                             f"{did_you_mean(top, run.values)}", file=spec_path)
        value = run.values[top]
        if "." in key and isinstance(value, dict):
            value = value.get(key.split(".", 1)[1])
        src = run.source(key)
        where = f"{src.loc[0]}:{src.loc[1]}:{src.loc[2]}"
        head = f"{run.run_id}: " if len(compiled.runs) > 1 else ""
        lines.append(f"{head}{key} = {json.dumps(value)}")
        lines.append(f"  source: {src.label}")
        chain = [f"{s.label}: {json.dumps(v)}" for s, v in run.history.get(key, [])]
        if src.layer is Layer.DERIVED:
            chain.append(f"{src.label} = {json.dumps(value)}")
        if len(chain) > 1:
            lines.append("  chain:  " + "\n      <  ".join(chain))
        if src.layer not in (Layer.SPEC, Layer.STAGE):
            lines.append(f"  reported at: {where}")
    return "\n".join(lines)


def explain_code(code: str) -> str:
    from peftc.codes import CODES
    from peftc.rules import all_rules

    rules = all_rules()
    if code in rules:
        r = rules[code]
        return "\n".join([
            f"{r.code} {r.name} ({r.severity})", "", "## What it does", r.summary, "",
            "## Why is this bad?", r.rationale, "", "## Example", r.bad, "", "## Use instead",
            r.good, "", "## Fix", r.fix, "", "## Reference", r.reference])
    if code in CODES:
        return f"{code}: {CODES[code]}"
    raise UsageError(f"unknown code '{code}' (see `peftc rules` and docs/diagnostics.md)")
