"""Findings as a SARIF 2.1.0 log, for code-scanning uploads (`peftc lint --format sarif`).

Written by hand: SARIF is a JSON document, and the Python SARIF packages are object models
or validators, heavier than the thirty lines it takes. tests/test_sarif.py checks the output
against the official OASIS schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from peftc.diagnostics import Diagnostic, sort_key

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
DOCS = "https://github.com/peftc/peftc/blob/main/docs/"
LEVELS = {"error": "error", "warning": "warning"}  # info -> note


def _summaries() -> dict[str, tuple[str, str]]:
    """Each code's one-line meaning and its documentation page."""
    from peftc.codes import CODES
    from peftc.rules import all_rules

    out = {code: (meaning, "diagnostics.md") for code, meaning in CODES.items()}
    out.update({code: (r.summary, f"rules.md#{code.lower()}-{r.name}")  # GitHub's anchor
                for code, r in all_rules().items()})
    return out


def _uri(file: str) -> str:
    """An artifact location: relative paths stay relative (to the upload's checkout)."""
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def render(diagnostics: Iterable[Diagnostic], version: str) -> str:
    diags = sorted(diagnostics, key=sort_key)
    known = _summaries()
    codes = sorted({d.code for d in diags})
    rules = []
    for code in codes:
        summary, page = known.get(code, (code, "diagnostics.md"))
        rules.append({"id": code, "shortDescription": {"text": summary},
                      "helpUri": DOCS + page})
    results = []
    for d in diags:
        text = d.full_message() + (f"\nhint: {d.hint}" if d.hint else "")
        location: dict[str, object] = {"artifactLocation": {"uri": _uri(d.file)}}
        if d.line:
            location["region"] = {"startLine": d.line, "startColumn": max(d.col, 1)}
        results.append({
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": LEVELS.get(d.severity, "note"),
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
        })
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "peftc", "version": version,
                            "informationUri": "https://github.com/peftc/peftc",
                            "rules": rules}},
        "results": results,
    }]}
    return json.dumps(log, indent=2)
