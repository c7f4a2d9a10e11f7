"""Which findings are reported, and how severe: one filter for `lint` and `compile`.

Filtering, in order: the code selection (`--select`, `--ignore`, `[tool.peftc]` in the
nearest pyproject.toml, the spec's `lint:` section), per-code severity overrides, then
inline `# peftc: ignore[CODE]` comments on the line a finding points at.

Warnings and infos can be ignored, turned off or raised to errors. Errors cannot be ignored
or lowered: an error says the run would not train what its spec says (or would not start),
so silencing it in lint would only move the failure to compile or to the GPU. The few
errors that judge a sample (`codes.SUPPRESSIBLE`) are the exception.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peftc.codes import refusal, suppressible, unsuppressible
from peftc.diagnostics import Diagnostic, UsageError

if TYPE_CHECKING:
    from peftc.compiler.build import Compiled


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
    """``[tool.peftc]`` of the nearest pyproject.toml above ``start`` (empty when none); an
    error code it would silence is a usage error located at that file."""
    for folder in [start.resolve(), *start.resolve().parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            import tomllib

            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                return {}
            config = dict(data.get("tool", {}).get("peftc", {}))
            for code in unsuppressible([*config.get("ignore", []),
                                        *config.get("severity", {})]):
                raise UsageError(f"[tool.peftc]: {refusal(code)}", file=str(candidate))
            return config
    return {}


def _matches(code: str, patterns: list[str]) -> bool:
    return any(code == p or code.startswith(p) or fnmatch.fnmatch(code, p) for p in patterns)


def apply_filters(diags: Iterable[Diagnostic], config: LintConfig,
                  suppressed: Callable[[Diagnostic], bool] | None = None) -> list[Diagnostic]:
    """Drop ignored and suppressed findings; apply severity overrides. Errors other than
    ``codes.SUPPRESSIBLE`` pass untouched."""
    out = []
    for d in diags:
        if d.is_error and not suppressible(d.code):
            out.append(d)
            continue
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


@dataclass
class Filter:
    """The filter of one spec: the command line's, its pyproject's and its own ``lint:``
    settings, and its files' ``# peftc: ignore[...]`` comments."""

    config: LintConfig
    srcmaps: dict[str, Any]

    @classmethod
    def of(cls, compiled: Compiled, cli: LintConfig | None = None) -> Filter:
        config = (cli or LintConfig()).merged(pyproject_config(compiled.spec.path.parent))
        return cls(config.merged(compiled.spec.structure.get("lint", {})),
                   {layer.doc.file: layer.doc.srcmap for layer in compiled.spec.layers})

    def __call__(self, diags: Iterable[Diagnostic]) -> list[Diagnostic]:
        def suppressed(d: Diagnostic) -> bool:
            srcmap = self.srcmaps.get(d.file)
            return bool(srcmap and srcmap.suppressed(d.line, d.code))

        return apply_filters(diags, self.config, suppressed)


def findings(compiled: Compiled, flt: Filter) -> list[Diagnostic]:
    """Every finding of a spec resolved with ``keep_going``, the rules' included, filtered:
    what `lint` reports. `compile` reports the same in two steps (`resolve_spec` stops on the
    errors, then the advisor's warnings are added)."""
    from peftc.rules import check_runs

    advice = check_runs(compiled.runs, compiled.spec.left_out)
    return flt([*compiled.errors, *compiled.warnings, *advice])
