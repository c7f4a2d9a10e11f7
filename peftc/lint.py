"""`peftc lint`: schema and semantic errors plus the advisor's findings, filtered once
(`peftc.suppress`, the filter `compile` applies too)."""

from __future__ import annotations

import re
from pathlib import Path

from peftc.diagnostics import Diagnostic, PeftcError
from peftc.limits import MAX_RUNS
from peftc.suppress import Filter, LintConfig, apply_filters, findings, pyproject_config

__all__ = ["LintConfig", "is_spec", "lint_file"]

# What makes a YAML file a peftc spec, judged on its text so that a spec with a YAML
# syntax error is still recognised (and reported) while a workflow, a docker-compose file
# or `.pre-commit-config.yaml` is skipped: a top-level `base_model` or `extends` key, or a
# schema modeline that names peftc's schema.
_SPEC_KEY = re.compile(rb"^[\"']?(?:base_model|extends)[\"']?[ \t]*:", re.MULTILINE)
_SPEC_MODELINE = re.compile(rb"^#.*\$schema=\S*peftc[^\s/]*\.schema\.json", re.MULTILINE)


def is_spec(path: str | Path) -> bool:
    """Whether a file reads as a peftc spec (unreadable files count: lint reports them)."""
    try:
        text = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    except OSError:
        return True
    return bool(_SPEC_KEY.search(text) or _SPEC_MODELINE.search(text))


def lint_file(path: str, cli_config: LintConfig, max_runs: int = MAX_RUNS) -> list[Diagnostic]:
    """Every finding for one spec file, filtered; a sweep above ``max_runs`` is refused."""
    from peftc.compiler import resolve_spec

    try:
        compiled = resolve_spec(path, max_runs=max_runs, keep_going=True)
    except PeftcError as exc:
        return apply_filters(exc.diagnostics,
                             cli_config.merged(pyproject_config(Path(path).parent)))
    return findings(compiled, Filter.of(compiled, cli_config))
