"""The spec as a JSON Schema (draft 2020-12), assembled from the key records of
`peftc.vocab.keys` plus the structural keys that shape the spec itself.

`build_schema()` assembles the document; `peftc schema` prints it and the committed
`peftc.schema.json` beside this file is kept equal to it by a test.
"""

from __future__ import annotations

from typing import Any

from peftc.vocab.keys import CLUSTER, LINT, STR_LIST, aliases, refused, settings_schema

# Keys that are not run settings: they shape the spec itself.
STRUCTURAL = ["extends", "profile", "profiles", "sweep", "stages", "lint", "cluster", "name"]

# Axolotl keys peftc does not take, with what to do instead; accepted second spellings.
UNSUPPORTED: dict[str, str] = refused()
ALIASES: dict[str, str] = aliases()


def settings_keys() -> list[str]:
    return list(settings_schema())


def build_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file."""
    settings = settings_schema()
    refs = {k: {"$ref": f"#/properties/{k}"} for k in settings}
    aliases = {a: {"$ref": f"#/properties/{c}", "description": f"Alias of {c}."}
               for a, c in ALIASES.items()}
    overlay = {"type": "object", "additionalProperties": False, "properties": refs}
    stage = {"type": "object", "additionalProperties": False,
             "description": "A pipeline stage: settings over the spec's own.",
             "properties": {**refs, **aliases,
                            "depends_on": {**STR_LIST, "description": "Stages to run first "
                                           "(found from ${stages.NAME...} references too)."}}}
    structural = {
        "extends": {"type": ["string", "array"], "items": {"type": "string"},
                    "description": "Spec file(s) this one builds on (paths relative to it).",
                    "group": "spec"},
        "name": {"type": "string", "description": "Readable name used in run ids.",
                 "pattern": "^[A-Za-z0-9._-]+$", "group": "spec"},
        "profile": {"type": "string", "description": "Train profile: auto (the task plugin's; "
                    "none without one), none, a built-in (paper_code_ift, paper_default_ift, "
                    "paper_math_ift) or one in profiles.", "default": "auto", "group": "spec"},
        "profiles": {"type": "object", "additionalProperties": overlay,
                     "description": "User train profiles: name -> settings.", "group": "spec"},
        "sweep": {"type": "object", "group": "spec",
                  "description": "Axes: key (dotted for nested) -> list of values; the grid is "
                  "their product, first key outermost. `paired` zips axes, `exclude` drops "
                  "points.",
                  "properties": {
                      "paired": {"type": "array", "items": {
                          "type": "object", "additionalProperties": {"type": "array"}},
                          "description": "Groups of axes whose values move together."},
                      "exclude": {"type": "array", "items": {"type": "object"},
                                  "description": "Points to drop: key -> value mappings."}},
                  "additionalProperties": {"type": "array", "minItems": 1}},
        "stages": {"type": "object", "additionalProperties": stage, "group": "spec",
                   "description": "Pipeline stages in order (e.g. sft then dpo); each is a "
                   "run per sweep point."},
        "lint": {**LINT, "group": "spec"},
        "cluster": {**CLUSTER, "group": "spec"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://peftc.dev/schema/spec.json",
        "title": "peftc spec",
        "description": "A peftc fine-tuning spec (Axolotl-compatible keys).",
        "type": "object",
        "additionalProperties": False,
        "properties": {**settings, **aliases, **structural},
    }
