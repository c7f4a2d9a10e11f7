"""docs/rules.md from the rule registry: `render_markdown()` is the whole file.

Regenerate with::

    python -m peftc.rules.docs > docs/rules.md

A test keeps the committed file equal to this output.
"""

from __future__ import annotations

from peftc.rules import all_rules

_HEADER = """\
# Lint rules

`peftc lint` runs these rules on every resolved run of a spec (each sweep point and stage) and
reports each finding once, at the spec line that set the value responsible, with the share of
sweep runs it affects. `peftc compile` runs them too, prints the same findings and stops,
writing nothing, on an error. `W1xx` are the advisor's warnings (a warning's severity can be
changed per code: `off`, `info`, `error`); `E7xx` the advisor's errors and `E2xx` the
compiler's: the run would fail or train something else, so an error cannot be ignored or
lowered ([diagnostics.md](diagnostics.md)).

Silencing a warning (lint and compile read the same settings):

- on one line: a trailing comment `# peftc: ignore[W110]` (several codes: `ignore[W110,W150]`);
- for one spec: `lint: {ignore: [W150], severity: {W151: off, W110: error}}`;
- for a project: `[tool.peftc]` in the nearest `pyproject.toml` (`ignore`, `select`,
  `severity`);
- for one invocation: `peftc lint --select W1 --ignore W151 spec.yaml`.

`peftc explain CODE` prints a rule's documentation below. This file is generated from the
rule registry (`python -m peftc.rules.docs > docs/rules.md`); do not edit it by hand.
"""


def render_markdown() -> str:
    rules = all_rules()
    out = [_HEADER, "| code | name | severity | summary |", "| --- | --- | --- | --- |"]
    for r in rules.values():
        out.append(f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity} | "
                   f"{r.summary} |")
    for r in rules.values():
        out += ["", f"## {r.code} {r.name}", "",
                f"*{r.severity}*: {r.summary}", "",
                "**Why is this bad?** " + r.rationale, "",
                "Example:", "", "```yaml", r.bad, "```", "",
                "Use instead:", "", "```yaml", r.good, "```", "",
                f"**Fix:** {r.fix}.", "", f"**Reference:** {r.reference}."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(render_markdown())
