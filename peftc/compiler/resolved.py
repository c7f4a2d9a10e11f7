"""A resolved run: every setting of one (sweep point x stage), each with its source. The
compiler's steps (resolve, derive, runconfig, launch files, summary) and the lint rules all
read this type; it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peftc.compiler.layers import Layer, Loc, Source, default_label
from peftc.compiler.modelconfig import ModelConfig
from peftc.compiler.sweep import Point


@dataclass
class ResolvedRun:
    """One run: every setting resolved, each with its source."""

    spec_file: str
    stage: str | None
    point: Point
    values: dict[str, Any]
    sources: dict[str, Source]
    slug: str = ""
    run_id: str = ""
    depends_on: list[str] = field(default_factory=list)  # run ids
    # every layer's value of each key with its source, lowest first (`peftc explain`, and
    # rules about a value a derivation replaced)
    history: dict[str, list[tuple[Source, Any]]] = field(default_factory=dict)
    stage_deps: list[str] = field(default_factory=list)  # stage names
    model_config: ModelConfig | None = None  # the model's config.json, when at hand
    # the main spec's folder: local paths are found from there (paths.find_local)
    spec_dir: Path = field(default_factory=Path, kw_only=True)

    def source(self, key: str) -> Source:
        """The source of ``key`` (or of a dotted leaf), falling back to its parent key."""
        top = key.partition(".")[0]
        while key:
            if key in self.sources:
                return self.sources[key]
            key = key.rpartition(".")[0]
        return Source(default_label(top), (self.spec_file, 1, 1), Layer.DEFAULT)

    def layered(self, key: str) -> tuple[Source, Any] | None:
        """The value the layers gave ``key`` before any derivation, with its source (None
        when no layer set it): what the spec asked, where a derivation then decided."""
        given = self.history.get(key)
        return given[-1] if given else None

    def loc(self, key: str) -> Loc:
        return self.source(key).loc

    @property
    def axes(self) -> dict[str, Any]:
        return self.point.as_dict()
