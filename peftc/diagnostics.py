"""One diagnostic format and one error path for every kind of bad input.

Every problem peftc reports, from a YAML syntax error to a hyperparameter rule, is a
`Diagnostic`: ``FILE:LINE:COL: CODE severity: message``. Code that finds problems collects
them and raises `PeftcError` once; the CLI prints them and exits non-zero. Nothing else
prints errors, and no input produces a Python traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"
INFO = "info"
_SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Diagnostic:
    """A located problem. ``line`` and ``col`` are 1-based; 0 means "the whole file"."""

    code: str
    severity: str
    message: str
    file: str = "<input>"
    line: int = 0
    col: int = 0
    hint: str | None = None
    runs_affected: int | None = None
    runs_total: int | None = None
    fields: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file

    def full_message(self) -> str:
        """The message, with the share of a sweep's runs it concerns."""
        if self.runs_total and self.runs_total > 1 and self.runs_affected is not None:
            return f"{self.message} (in {self.runs_affected} of {self.runs_total} runs)"
        return self.message

    def text(self) -> str:
        out = f"{self.location()}: {self.code} {self.severity}: {self.full_message()}"
        if self.hint:
            out += f"\n  hint: {self.hint}"
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "message": self.message,
            "hint": self.hint,
            "runs_affected": self.runs_affected,
            "runs_total": self.runs_total,
        }

    def github(self) -> str:
        level = {"error": "error", "warning": "warning"}.get(self.severity, "notice")
        msg = self.message + (f" ({self.hint})" if self.hint else "")
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        loc = f"file={self.file}"
        if self.line:
            loc += f",line={self.line},col={self.col}"
        return f"::{level} {loc},title=peftc {self.code}::{msg}"


class PeftcError(Exception):
    """Raised with every problem found in one pass; the CLI prints them and exits 1."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | Diagnostic, exit_code: int = 1):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        self.exit_code = exit_code
        super().__init__("\n".join(d.text() for d in self.diagnostics))


class UsageError(PeftcError):
    """Bad command line or unreadable file: exit code 2."""

    def __init__(self, message: str, file: str = "peftc", code: str = "E000"):
        super().__init__(Diagnostic(code, ERROR, message, file=file), exit_code=2)


def sort_key(d: Diagnostic) -> tuple[str, int, int, int, str]:
    return (d.file, d.line, d.col, _SEVERITY_RANK.get(d.severity, 3), d.code)


def render(diagnostics: Iterable[Diagnostic], fmt: str = "text") -> str:
    """Render diagnostics as ``text`` (one per line), ``json`` (a list) or ``github``
    (workflow annotations); ``peftc.sarif`` renders a SARIF log."""
    diags = sorted(diagnostics, key=sort_key)
    if fmt == "json":
        return json.dumps([d.as_dict() for d in diags], indent=2)
    if fmt == "github":
        return "\n".join(d.github() for d in diags)
    return "\n".join(d.text() for d in diags)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` is most likely a misspelling of, if any is close enough."""
    import difflib

    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def num(x: float) -> str:
    """A number as a person writes it: 2e-04 -> '2e-04', 0.05 -> '0.05', 16.0 -> '16'."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e6):
        return str(int(x))
    if x != 0 and abs(x) < 1e-3:
        mantissa, exponent = f"{x:.3e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{x:.4g}"
