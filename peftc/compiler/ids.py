"""Run ids: ``<slug>-<hash>``, where the slug names the spec, stage and sweep values for
people and the hash of the resolved values keeps ids apart. An id names a folder and reaches
shell scripts, so it holds only [A-Za-z0-9._-]."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from peftc.compiler.layers import Layer
from peftc.compiler.resolved import ResolvedRun
from peftc.compiler.sweep import target


def slug(text: str) -> str:
    """``text`` as [A-Za-z0-9._-] only, at most 80 characters. A run id names a folder and
    reaches shell scripts, whatever the spec file or stage is called (the hash after it keeps
    it unique)."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", text)[:80].strip("-.") or "run"


def _short(value: Any) -> str:
    text = str(value).rstrip("/").rsplit("/", 1)[-1].lower() if isinstance(value, str) else (
        json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value))
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")[:24] or "x"


def run_slug(name: str, run: ResolvedRun) -> str:
    """The spec's ``name``, the stage and the run's own sweep values."""
    parts = [name]
    if run.stage:
        parts.append(run.stage)
    for dotted, value in run.point.values:
        if target(dotted)[0] in (None, run.stage):  # axes of other stages do not apply
            parts.append(_short(value))
    return slug("-".join(parts))


def run_hash(run: ResolvedRun) -> str:
    """Eight hex digits of the resolved values, the stage and the runs it depends on (not of
    a derived output folder, which depends on OUT)."""
    canon = {k: v for k, v in run.values.items() if k != "sft_adapter_chain" and (
        k != "output_dir" or run.sources[k].layer is not Layer.DERIVED)}
    blob = json.dumps([run.stage, canon, run.depends_on], sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]
