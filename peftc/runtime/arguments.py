"""The keyword-argument sections of a run.yaml, checked against the installed classes.

run.yaml's schema leaves these sections open (`runfile.KWARGS_OF`): a hand-edited run may pass
an argument peftc does not write. Here, before the model loads, each name is checked against
the class the section goes to, so that `lerning_rate` is reported at its line in run.yaml
with the name meant, not as a TypeError after the model has loaded.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

from peftc.diagnostics import ERROR, Diagnostic, PeftcError, did_you_mean
from peftc.schema.loader import Document
from peftc.schema.runfile import KWARGS_OF, run_schema

_MODULES = ("trl", "peft", "transformers")  # where the classes sections name are found


def accepted(cls: type) -> set[str]:
    """The keyword arguments ``cls`` uses: its constructor's named parameters. The classes
    run.yaml's sections go to are dataclasses (TRL's and PEFT's configs) or drop any other
    argument with a log line (``BitsAndBytesConfig``'s ``**kwargs``: "Unused kwargs")."""
    return {p.name for p in inspect.signature(cls).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _class(name: str) -> Any | None:
    for module in _MODULES:
        found = getattr(importlib.import_module(module), name, None)
        if isinstance(found, type):
            return found
    return None


def _sections(schema: dict[str, Any], data: Any, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[tuple[str, ...], dict[str, Any], str]]:
    """(path, the section's mapping, the class name) of each keyword-argument section that
    is set. ``x-kwargs-of`` names a class, or a sibling field that holds the class name."""
    if not isinstance(data, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        value = data.get(key)
        if KWARGS_OF in sub and isinstance(value, dict):
            of = sub[KWARGS_OF]
            yield (*path, key), value, str(data.get(of) or of)
        elif "properties" in sub:
            yield from _sections(sub, value, (*path, key))


def check_arguments(doc: Document) -> None:
    """Every argument of a keyword-argument section that its class does not take, located
    in run.yaml; raises them all at once."""
    problems = []
    for path, section, name in _sections(run_schema(), doc.data):
        cls = _class(name)
        if cls is None:  # a method (from_pretrained): its **kwargs reach the model's config
            continue
        names = accepted(cls)
        for key in section:
            if key not in names:
                line, col = doc.srcmap.locate((*path, key), key=True)
                problems.append(Diagnostic(
                    "E100", ERROR, f"'{'.'.join((*path, key))}' is not an argument of "
                    f"{name}{did_you_mean(key, names)}", file=doc.file, line=line, col=col))
    if problems:
        raise PeftcError(problems)
