"""Check a loaded spec against the JSON Schema and turn every violation into a diagnostic.

jsonschema finds the problems; this module words them for people: the key's own line and
column, "did you mean" for typos in keys and enum values, a pointer for Axolotl keys peftc
does not take, and a note when YAML 1.1 turned a word like `no` into a boolean.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from peftc.codes import refusal, unsuppressible
from peftc.diagnostics import ERROR, INFO, WARNING, Diagnostic, closest, did_you_mean
from peftc.schema.loader import Document, SourceMap
from peftc.schema.spec import ALIASES, build_schema
from peftc.vocab.catalog import PARAM_RANGE
from peftc.vocab.chat_templates import FALLBACK
from peftc.vocab.keys import DATASET_ALIASES, KEYS, RENAMED_CODE, REPORTS, Way, record, value_way

_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "null"}

AUTO_HINT = ("peftc takes 'auto' only where the machine decides (bf16, tf32); write the value "
             "you want")

@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return build_schema()


@functools.lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    return text if len(text) <= 60 else text[:57] + "..."


def _name(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "spec"


class _Wording:
    def __init__(self, srcmap: SourceMap, prefix: tuple[Any, ...] = (), *, spec: bool = True):
        self.srcmap = srcmap
        self.prefix = prefix
        self.spec = spec  # a spec: its keys' records (Axolotl's ways) add to the wording
        self.invalid: list[tuple[Any, ...]] = []  # the data path of every error worded

    def diag(self, path: tuple[Any, ...], code: str, message: str, hint: str | None = None,
             *, key: bool = False, severity: str = ERROR) -> Diagnostic:
        if severity == ERROR:
            self.invalid.append(path)
        line, col = self.srcmap.locate((*self.prefix, *path), key=key)
        return Diagnostic(code, severity, message, file=self.srcmap.file, line=line, col=col,
                          hint=hint)

    def words(self, err: ValidationError) -> list[Diagnostic]:
        path = tuple(err.absolute_path)
        name = _name(path)
        v = err.validator
        if v == "additionalProperties" and isinstance(err.instance, dict):
            return self._unknown_keys(err, path)
        if self.spec and path and _has_value_way(path, err.instance):
            return []  # said by value_ways, whatever the schema thinks of it
        if v == "type":
            want = err.validator_value
            want = [want] if isinstance(want, str) else want
            wanted = " or ".join(_TYPE_NAMES.get(w, w) for w in want)
            hint = None
            if err.instance == "auto":
                hint = AUTO_HINT
            raw = self.srcmap.yaml11_bools.get((*self.prefix, *path))
            if raw is not None:
                hint = (f"YAML 1.1 reads the bare word '{raw}' as a boolean; "
                        f"write '{raw}' in quotes if you mean the text")
            return [self.diag(path, "E101", f"'{name}' must be {wanted}, got "
                              f"{_kind(err.instance)} {_show(err.instance)}", hint)]
        if v == "enum":
            allowed = err.validator_value
            got = err.instance
            suggestion = did_you_mean(str(got), [str(a) for a in allowed]) if isinstance(
                got, str) else ""
            shown = ", ".join(_show(a) for a in allowed)
            hint = None
            if got == "auto":
                hint = AUTO_HINT
            raw = self.srcmap.yaml11_bools.get((*self.prefix, *path))
            if raw is not None:
                hint = f"YAML 1.1 reads the bare word '{raw}' as a boolean; quote it"
            return [self.diag(path, "E102", f"'{name}' must be one of {shown}; got "
                              f"{_show(got)}{suggestion}", hint)]
        if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
                  "exclusiveMaximum": "<"}[v]
            return [self.diag(path, "E103", f"'{name}' must be {op} {err.validator_value}, "
                              f"got {_show(err.instance)}")]
        if v in ("minItems", "maxItems"):
            return [self.diag(path, "E103", f"'{name}' needs at least {err.validator_value} "
                              "item(s)" if v == "minItems" else f"'{name}' has too many items")]
        if v == "required":
            missing = [r for r in err.validator_value if r not in err.instance]
            return [self.diag(path, "E104", f"'{_name((*path, m))}' is required")
                    for m in missing]
        if v == "pattern":
            return [self.diag(path, "E102", f"'{name}' does not match the expected form "
                              f"{err.validator_value!r}: got {_show(err.instance)}")]
        if v == "anyOf":
            return self._any_of(err, path, name)
        return [self.diag(path, "E101", f"'{name}': {err.message}")]

    def _any_of(self, err: ValidationError, path: tuple[Any, ...], name: str):
        choices: list[str] = []
        enums: list[Any] = []
        for sub in err.validator_value:
            if "enum" in sub:
                enums.extend(sub["enum"])
            if "type" in sub:
                t = sub["type"]
                choices.extend(_TYPE_NAMES.get(x, x) for x in ([t] if isinstance(t, str) else t))
        if enums:
            choices.insert(0, "one of " + ", ".join(_show(e) for e in enums))
        suggestion = did_you_mean(err.instance, [str(e) for e in enums]) if isinstance(
            err.instance, str) and enums else ""
        return [self.diag(path, "E102" if enums else "E101",
                          f"'{name}' must be {' or '.join(dict.fromkeys(choices))}; got "
                          f"{_show(err.instance)}{suggestion}")]

    def _unknown_keys(self, err: ValidationError, path: tuple[Any, ...]) -> list[Diagnostic]:
        known = set(err.schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in known:
                continue
            kpath = (*path, key)
            rec = record(path, key) if self.spec else None
            if rec is not None and rec.way in REPORTS:
                code, severity, words = REPORTS[rec.way]
                out.append(self.diag(kpath, code, f"'{_name(kpath)}' {words}", rec.note,
                                     key=True, severity=severity))
                continue
            out.append(self.diag(kpath, "E100", f"unknown key '{_name(kpath)}'"
                                 f"{did_you_mean(str(key), known)}", key=True))
        return out


def unset_nulls(data: Any, path: tuple[Any, ...] = ()) -> Any:
    """``data`` without the null values of keys peftc knows: in Axolotl, as here, a key left
    empty (``wandb_project:``) means unset. ``false`` on an Axolotl switch peftc does not take
    (``gptq: false``, ``torch_compile: false``) asks for nothing either, so it is unset too. A
    null under an unknown key stays, so a typo is still reported."""
    if isinstance(data, list):
        return [unset_nulls(item, (*path, i)) for i, item in enumerate(data)]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        kpath = (*path, key)
        named = path in (("stages",), ("profiles",))  # `stages: {sft: }` is a stage
        rec = record(path, key)
        known = subschema(kpath) is not None or rec is not None
        if value is None and known and not named:
            continue
        if value is False and rec is not None and rec.way in REPORTS:
            continue
        out[key] = unset_nulls(value, kpath)
    return out


def _has_value_way(path: tuple[Any, ...], value: Any) -> bool:
    """Whether the value at ``path`` (a top-level key or a dataset entry's) has a way."""
    return record(path[:-1], path[-1]) is not None and value_way(path[-1], value) is not None


def value_ways(data: Any, wording: _Wording, path: tuple[Any, ...] = ()) -> list[Diagnostic]:
    """An Axolotl value peftc takes another way (a hint, pending or refused), at the top level
    or in a ``datasets[]`` entry."""
    out = []
    items = enumerate(data) if isinstance(data, list) else (
        data.items() if isinstance(data, dict) else ())
    for key, value in items:
        kpath = (*path, key)
        taken = value_way(key, value) if _has_value_way(kpath, value) else None
        if taken is not None:
            code, severity, words = REPORTS[taken[0]]
            out.append(wording.diag(kpath, code, f"'{_name(kpath)}: {value}' "
                                    f"{words.replace(' key ', ' value ')}", taken[1],
                                    severity=severity))
        elif isinstance(value, (dict, list)) and (not path or path == ("datasets",)):
            out.extend(value_ways(value, wording, kpath))
    return out


def _pending_forms(data: dict[str, Any], wording: _Wording) -> list[Diagnostic]:
    """Forms of honoured Axolotl values the runtime cannot take yet (E107, at the item): a row
    range on an unfrozen parameter, and a per-dataset fallback template."""
    out = []
    patterns = data.get("unfrozen_parameters")
    for i, pattern in enumerate(patterns if isinstance(patterns, list) else []):
        if isinstance(pattern, str) and PARAM_RANGE.match(pattern):
            out.append(wording.diag(("unfrozen_parameters", i), "E107", "unfrozen_parameters "
                                    f"'{pattern}': a row range ([start:end]) is not supported "
                                    "yet", "unfreeze the whole parameter (drop the range), or "
                                    "leave it frozen"))
    entries = data.get("datasets")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        own = entry.get("chat_template") if isinstance(entry, dict) else None
        if isinstance(own, str) and own.startswith(FALLBACK):
            out.append(wording.diag(("datasets", i, "chat_template"), "E107", f"'{own}': a "
                                    "fallback template per dataset is not supported yet",
                                    "give the template's name, or set the fallback at the top "
                                    "level"))
    return out


def validate_data(data: dict[str, Any], srcmap: SourceMap,
                  prefix: tuple[Any, ...] = ()) -> list[Diagnostic]:
    """Every schema violation in ``data`` as located diagnostics (empty when valid)."""
    return _check(data, _Wording(srcmap, prefix))


def validate_against(doc: Document, validator: Draft202012Validator) -> list[Diagnostic]:
    """Every violation of another schema than the spec's (run.yaml's) in a loaded file,
    located in that file and worded as the spec's are."""
    wording = _Wording(doc.srcmap, spec=False)
    return [d for err in validator.iter_errors(doc.data) for d in wording.words(err)]


def valid_part(data: dict[str, Any], srcmap: SourceMap
               ) -> tuple[list[Diagnostic], dict[str, Any], set[str]]:
    """Every schema violation in ``data``, ``data`` without the values they concern, and
    the run settings left out.

    One pass (lint reports every finding at once): the semantic checks and the advisor then
    run on what validated, and skip what depends on a setting left out. A bad value is cut
    at its innermost mapping key, so a bad field of a ``datasets`` entry leaves the entry's
    other fields; an error on the spec as a whole (a required key missing) cuts nothing.
    A misspelt key leaves out the key it was probably meant to be.
    """
    wording = _Wording(srcmap)
    found = _check(data, wording)
    if not wording.invalid:
        return found, data, set()
    kept = copy.deepcopy(data)
    left_out: set[str] = set()
    for path in wording.invalid:
        _cut(kept, path)
        left_out.update(_setting_of(path))
    return found, kept, left_out


def _setting_of(path: tuple[Any, ...]) -> set[str]:
    """The run settings a bad value at ``path`` stands for (a stage's own, too)."""
    if len(path) >= 3 and path[0] == "stages":
        path = path[2:]
    if not path or not isinstance(path[0], str):
        return set()
    key = path[0]
    props = schema()["properties"]
    if key in props or key in ALIASES:
        return {ALIASES.get(key, key)}
    meant = closest(key, props)
    return {key, meant} if meant else {key}


def _cut(data: Any, path: tuple[Any, ...]) -> None:
    """Delete ``path`` at its innermost mapping key that its mapping can do without (a
    list item goes with its list; a dataset entry's required ``path`` takes the list)."""
    keys = [i for i, part in enumerate(path) if isinstance(part, str)]
    while len(keys) > 1 and path[keys[-1]] in (subschema(path[:keys[-1]]) or {}).get(
            "required", ()):
        keys.pop()
    cut = keys[-1] if keys else -1
    node = data
    for part in path[:cut]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return  # already cut with an outer value
    if cut >= 0 and isinstance(node, dict):
        node.pop(path[cut], None)


def _check(data: dict[str, Any], wording: _Wording) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in validator().iter_errors(data):
        out.extend(wording.words(err))
    out.extend(value_ways(data, wording))
    out.extend(_pending_forms(data, wording))
    out.extend(_alias_clashes(data, wording))
    out.extend(_yaml11_words(data, wording))
    out.extend(_unsuppressible(data, wording))
    cluster = data.get("cluster")
    if isinstance(cluster, dict) and isinstance(cluster.get("setup"), str):
        out.append(wording.diag(("cluster", "setup"), "I401", "cluster.setup is shell that "
                                "every SLURM job runs: review it like code",
                                severity=INFO))
    return out


def _unsuppressible(data: dict[str, Any], wording: _Wording) -> list[Diagnostic]:
    """``lint: {ignore: [E209]}``: an error cannot be silenced (peftc.suppress)."""
    lint = data.get("lint")
    if not isinstance(lint, dict):
        return []
    ignore = lint.get("ignore") if isinstance(lint.get("ignore"), list) else []
    severity = lint.get("severity") if isinstance(lint.get("severity"), dict) else {}
    found = [(("lint", "ignore", i), code, False) for i, code in enumerate(ignore)
             if isinstance(code, str) and unsuppressible([code])]
    found += [(("lint", "severity", code), code, True) for code in severity
              if unsuppressible([code])]
    return [wording.diag(path, "E102", refusal(code), key=key) for path, code, key in found]


def _alias_clashes(data: dict[str, Any], wording: _Wording) -> list[Diagnostic]:
    out = []
    entries = data.get("datasets")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        for alias, canonical in DATASET_ALIASES.items():
            if isinstance(entry, dict) and alias in entry and canonical in entry:
                out.append(wording.diag(("datasets", i, alias), "E106", f"'{alias}' and "
                                        f"'{canonical}' are the same setting; keep one",
                                        key=True))
    for alias, canonical in ALIASES.items():
        if alias in data and canonical in data:
            out.append(wording.diag((alias,), "E106", f"'{alias}' and '{canonical}' are the "
                                    "same setting; keep one", key=True))
        elif alias in data and KEYS[alias].way is Way.RENAMED:
            out.append(wording.diag((alias,), RENAMED_CODE, f"'{alias}' is Axolotl's old name of "
                                    f"'{canonical}'; taken as '{canonical}'",
                                    f"rename it to {canonical}", key=True, severity=WARNING))
    return out


def accepts_bool(key_path: tuple[Any, ...]) -> bool:
    """Whether the setting at ``key_path`` takes true/false (bf16 takes them and 'auto')."""
    node = subschema(key_path) or {}
    kinds = [node, *node.get("anyOf", []), *node.get("oneOf", [])]
    return any(k.get("type") == "boolean" or "boolean" in (k.get("type") or [])
               or True in k.get("enum", []) for k in kinds)


def yaml11_word(raw: str) -> str:
    """How YAML 1.2 spells the boolean a YAML 1.1 word (yes, off, ...) stands for."""
    return "true" if raw.lower() in ("yes", "on", "y") else "false"


def _yaml11_words(data: dict[str, Any], wording: _Wording) -> list[Diagnostic]:
    """A yes/no/on/off read as a boolean, where the setting takes one: YAML 1.1 reads it so
    (as peftc and Axolotl do), a YAML 1.2 tool reads text. `lint --fix` writes true/false."""
    out = []
    for path, raw in wording.srcmap.yaml11_bools.items():
        if path and accepts_bool(path):
            word = yaml11_word(raw)
            out.append(wording.diag(path, "W215", f"'{raw}' is YAML 1.1's word for {word}; "
                                    "YAML 1.2 tools read it as text", f"write {word} "
                                    "(peftc lint --fix does)", severity=WARNING))
    return out


def validate_value(key_path: tuple[Any, ...], value: Any) -> str | None:
    """Check one value against the schema of a (possibly dotted) key; None when valid.

    Used for sweep values so a 10,000-run sweep validates each axis value once, not each run.
    """
    sub = subschema(key_path)
    if sub is None:
        return f"unknown key '{_name(key_path)}'"
    errs = list(Draft202012Validator(sub).iter_errors(value))
    if not errs:
        return None
    err = errs[0]
    err.path.extendleft(reversed(key_path))
    return _Wording(SourceMap(file="")).words(err)[0].message


def subschema(key_path: tuple[Any, ...]) -> dict[str, Any] | None:
    """The schema of a key path (``("lr_scheduler_kwargs", "min_lr_rate")``), or None."""
    node: dict[str, Any] = schema()
    for part in key_path:
        props = node.get("properties", {})
        if isinstance(part, int) and "items" in node:
            node = node.get("items", {})
            continue
        if part in props:
            node = props[part]
            if "$ref" in node:
                node = schema()["properties"][node["$ref"].rsplit("/", 1)[1]]
            continue
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) or (node.get("type") == "object" and extra is None):
            node = extra if isinstance(extra, dict) else {}
            continue
        return None
    return node
