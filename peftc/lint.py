"""`peftc lint`: schema and semantic errors plus the advisor's findings, filtered once.

Filtering, in order: the rule selection (`--select`, `--ignore`, `[tool.peftc]` in the
nearest pyproject.toml, the spec's `lint:` section), per-code severity overrides, then
inline `# peftc: ignore[CODE]` comments on the line a finding points at.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from peftc.diagnostics import Diagnostic, PeftcError
from peftc.limits import MAX_RUNS

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


@dataclass
class LintConfig:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)

    def merged(self, other: dict[str, Any]) -> LintConfig:
        return LintConfig(
            select=self.select or list(other.get("select", [])),
            ignore=[*self.ignore, *other.get("ignore", [])],
            severity={**other.get("severity", {}), **self.severity},
        )


def pyproject_config(start: Path) -> dict[str, Any]:
    """``[tool.peftc]`` of the nearest pyproject.toml above ``start`` (empty when none)."""
    for folder in [start.resolve(), *start.resolve().parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            import tomllib

            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                return {}
            return dict(data.get("tool", {}).get("peftc", {}))
    return {}


def _matches(code: str, patterns: list[str]) -> bool:
    return any(code == p or code.startswith(p) or fnmatch.fnmatch(code, p) for p in patterns)


def apply_filters(diags: list[Diagnostic], config: LintConfig,
                  suppressed: Any = None) -> list[Diagnostic]:
    """Drop ignored and suppressed findings; apply severity overrides. Errors of the
    schema and loader (E0xx, E1xx) are never dropped: they make the spec unusable."""
    out = []
    for d in diags:
        hard = d.code[:2] in ("E0", "E1")
        if not hard:
            if config.select and not _matches(d.code, config.select):
                continue
            if _matches(d.code, config.ignore):
                continue
            sev = config.severity.get(d.code)
            if sev == "off":
                continue
            if sev:
                d = replace(d, severity=sev)
            if suppressed is not None and suppressed(d):
                continue
        out.append(d)
    return out


def lint_file(path: str, cli_config: LintConfig, max_runs: int = MAX_RUNS) -> list[Diagnostic]:
    """Every finding for one spec file, filtered; a sweep above ``max_runs`` is refused."""
    from peftc.compiler import resolve_spec

    config = cli_config.merged(pyproject_config(Path(path).parent))
    srcmaps = {}
    try:
        compiled = resolve_spec(path, max_runs=max_runs, keep_going=True)
    except PeftcError as exc:
        return apply_filters(exc.diagnostics, config)
    for layer in compiled.spec.layers:
        srcmaps[layer.doc.file] = layer.doc.srcmap
    config = config.merged(compiled.spec.structure.get("lint", {}))
    from peftc.rules import check_runs

    advice = check_runs(compiled.runs, compiled.spec.left_out)
    diags = [*compiled.errors, *compiled.warnings, *advice]

    def suppressed(d: Diagnostic) -> bool:
        srcmap = srcmaps.get(d.file)
        return bool(srcmap and srcmap.suppressed(d.line, d.code))

    return apply_filters(diags, config, suppressed)
