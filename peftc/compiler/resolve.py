"""Layered resolution with provenance: spec + sweep point + stage + CLI -> resolved runs.

The Resolver builds each run's layer stack (``layers.Layer``, lowest first: defaults, train
profile, task plugin, adapter-method preset, the spec after its ``extends`` bases, the stage,
the sweep point, ``--set``) and merges it (``layers.merge``); ``derive.py`` then computes the
derived values. Stage order and ``${...}`` references are ``stages.py``'s, run ids
``ids.py``'s. Every value keeps a ``Source`` saying where it came from and where in a spec
file to report a finding about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peftc.compiler import modelconfig
from peftc.compiler.derive import derive
from peftc.compiler.ids import run_hash, run_slug
from peftc.compiler.layers import Layer, Overlay, Source, derived, merge, schema_defaults
from peftc.compiler.modelconfig import ModelConfig
from peftc.compiler.paths import looks_local
from peftc.compiler.reads import ReadLog
from peftc.compiler.resolved import ResolvedRun
from peftc.compiler.specfile import Spec, canonical
from peftc.compiler.stages import fill_outputs, interpolate, stage_order, stages_named
from peftc.compiler.sweep import (
    Point,
    expand,
    parse,
    size,
    split_key,
    target,
    too_many,
)
from peftc.diagnostics import ERROR, WARNING, Diagnostic, did_you_mean
from peftc.limits import MAX_RUNS
from peftc.vocab import catalog
from peftc.vocab.methods import method


class Resolver:
    """Resolves every (sweep point x stage) of a spec. A structural problem (sweep, stages)
    raises one PeftcError; the rest are collected in ``errors`` and ``warnings``."""

    def __init__(self, spec: Spec, cli: dict[str, Any] | None = None,
                 out_root: Path | None = None, max_runs: int = MAX_RUNS,
                 resolve_models: bool = False):
        self.spec = spec
        self.cli = {split_key(k): v for k, v in (cli or {}).items()}
        self.out_root = out_root
        self.resolve_models = resolve_models  # read config.json from the hub when not local
        self._model_configs: dict[tuple[str, str | None],
                                  tuple[ModelConfig | None, str | None]] = {}
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []  # runs() returns its runs even when there are some
        self._outputs: dict[str, str] = {}
        self.defaults = schema_defaults()
        self.spec_dir = spec.path.resolve().parent
        main_loc = (spec.file, 1, 1)
        self.default_overlay = Overlay(Layer.DEFAULT, "default", self.defaults,
                                       lambda p: main_loc)
        self.stages: dict[str, Any] = spec.structure.get("stages", {})
        sweep = spec.structure.get("sweep", {})
        self.axes, self.excludes = parse(sweep, spec.locate_structural, self.stages)
        self.points = self._points(max_runs)
        self.profiles = {**catalog.PROFILES, **spec.structure.get("profiles", {})}
        self._spec_overlays = [
            Overlay(Layer.SPEC, f"spec:{layer.doc.file}", layer.settings, layer.locate)
            for layer in spec.layers]

    def model_config(self, run: ResolvedRun) -> ModelConfig | None:
        """The run's model's config.json when at hand: a local folder, the Hugging Face cache,
        or the hub with --resolve-models (when the hub fails, W211 says so)."""
        base_model, revision = run.values["base_model"], run.values.get("revision_of_model")
        key = (base_model, revision)  # read once per spec, however many runs share it
        if base_model in catalog.EMBEDDED_MODELS:  # built by peftc: no config.json anywhere
            return None
        if key not in self._model_configs:
            config, error = modelconfig.local_config(base_model, self.spec_dir, revision), None
            if config is None and self.resolve_models and not looks_local(base_model):
                try:
                    config = modelconfig.hub_config(base_model, revision)
                except modelconfig.HubError as exc:
                    error = str(exc)
            self._model_configs[key] = (config, error)
        config, error = self._model_configs[key]
        if error:  # about this machine's reach, not the spec: the resolver's to say
            f, ln, c = run.loc("base_model")
            self.problems.append(Diagnostic(
                "W211", WARNING, f"--resolve-models: no config.json from the hub ({error}); "
                "the architecture is told from the model id", file=f, line=ln, col=c,
                hint="check the id and HF_TOKEN, or download the model first"))
        return config

    def _points(self, max_runs: int) -> list[Point]:
        """The sweep's points, refused before expansion when they would make more than
        ``max_runs`` runs (a 2 KB spec can ask for 10^10)."""
        stages = max(1, len(self.stages))
        count, exact = size(self.axes, self.excludes)
        if count * stages <= max_runs:
            points = expand(self.axes, self.excludes, None if exact else max_runs // stages)
            if len(points) * stages <= max_runs:
                return points
            count = len(points)  # only a lower bound was known: expansion stopped past it
        raise too_many(count * stages, self.axes, stages, max_runs, exact=exact,
                       where=self.spec.locate_structural(("sweep",), key=True))

    # -- public --------------------------------------------------------------------------
    def runs(self) -> list[ResolvedRun]:
        out: list[ResolvedRun] = []
        stage_names = list(self.stages) or [None]
        order = stage_order(self.stages, stage_names, self.spec.locate_structural)
        seen: dict[str, ResolvedRun] = {}
        for point in self.points:
            by_stage: dict[str, ResolvedRun] = {}
            for stage in order:
                run = self._resolve(point, stage)
                derive(run, self)
                interpolate(run, by_stage)
                run.slug = run_slug(self.spec.structure.get("name") or self.spec.path.stem, run)
                run.run_id = f"{run.slug}-{run_hash(run)}"
                if run.run_id in seen:  # a stage untouched by this point's stage-only axes
                    by_stage[stage] = seen[run.run_id]  # type: ignore[index]
                    continue
                seen[run.run_id] = run
                if stage is not None:
                    by_stage[stage] = run
                self._finish_output_dir(run)
                out.append(run)
        self._check_shared_wandb_run(out)
        total = len(out) or 1
        self.warnings = dedupe([p for p in self.problems if not p.is_error], total)
        self.errors = dedupe([p for p in self.problems if p.is_error], total)
        return out

    # -- layering ------------------------------------------------------------------------
    def _upper(self, point: Point, stage: str | None) -> list[Overlay]:
        spec = self.spec
        layers = list(self._spec_overlays)
        if stage is not None:
            settings, names = canonical(self.stages[stage])

            def locate_stage(path, _stage=stage, _names=names):
                first = _names.get(path[0], path[0]) if path else None
                return spec.locate_structural(("stages", _stage, first, *path[1:]))

            layers.append(Overlay(Layer.STAGE, f"stage:{stage}", settings, locate_stage))
        sweep_vals: dict[str, Any] = {}
        patches: list[tuple[tuple[Any, ...], Any]] = []
        for dotted, value in point.values:
            st, path = target(dotted)
            if st is None or st == stage:
                if len(path) == 1:
                    sweep_vals[path[0]] = value
                else:
                    patches.append((path, value))
        if sweep_vals or patches:
            locs = point.locations

            def locate_sweep(path, _locs=locs):
                for dotted, loc in _locs.items():
                    if target(dotted)[1][: len(path)] == tuple(path)[: len(target(dotted)[1])]:
                        return loc
                return (spec.file, 1, 1)

            layers.append(Overlay(Layer.SWEEP, "sweep", sweep_vals, locate_sweep, patches))
        if self.cli:
            top = {p[0]: v for p, v in self.cli.items() if len(p) == 1}
            dotted_cli = [(p, v) for p, v in self.cli.items() if len(p) > 1]
            layers.append(Overlay(Layer.CLI, "cli", top, lambda p: ("<command line>", 0, 0),
                                  dotted_cli))
        return layers

    def _resolve(self, point: Point, stage: str | None) -> ResolvedRun:
        upper = self._upper(point, stage)

        def pick(key: str) -> tuple[Any, Overlay | None]:
            for layer in reversed(upper):
                if key in layer.values:
                    return layer.values[key], layer
            return self.defaults.get(key), None

        adapter, _ = pick("adapter")
        task, task_layer = pick("task")
        lower: list[Overlay] = [self.default_overlay]
        profile = self.spec.structure.get("profile", "auto")
        cli_profile = self.cli.get(("profile",))
        profile = cli_profile or profile
        prof_loc = self.spec.locate_structural(("profile",)) if "profile" in \
            self.spec.structure else (task_layer.locate(("task",)) if task_layer else
                                      (self.spec.file, 1, 1))
        if profile == "auto":
            profile = catalog.auto_profile(task)
        if profile != "none":
            if profile not in self.profiles:
                f, ln, c = self.spec.locate_structural(("profile",))
                self.problems.append(Diagnostic(
                    "E207", ERROR, f"unknown train profile '{profile}'"
                    f"{did_you_mean(profile, self.profiles)}", file=f, line=ln, col=c))
            else:
                values, _ = canonical(self.profiles[profile])
                lower.append(Overlay(Layer.PROFILE, f"profile:{profile}", values,
                                     lambda p, _l=prof_loc: _l))
        if task is not None and task in catalog.TASKS:
            tloc = task_layer.locate(("task",)) if task_layer else (self.spec.file, 1, 1)
            lower.append(Overlay(Layer.TASK, f"task:{task}", catalog.task_layer(task),
                                 lambda p, _l=tloc: _l))
        if (record := method(adapter)) is not None:
            _, alayer = pick("adapter")
            aloc = alayer.locate(("adapter",)) if alayer else (self.spec.file, 1, 1)
            lower.append(Overlay(Layer.METHOD, f"method:{adapter}", dict(record.preset),
                                 lambda p, _l=aloc: _l))
        values: dict[str, Any] = {}
        sources: dict[str, Source] = {}
        history: dict[str, list[tuple[Source, Any]]] = {}
        for layer in (*lower, *upper):
            merge(values, sources, history, layer)
        if self.spec.left_out:  # lint's one pass: checks note what they read
            values = ReadLog(values)
        run = ResolvedRun(self.spec.file, stage, point, values, sources, history=history,
                          spec_dir=self.spec_dir)
        run.values["profile"] = profile
        written = "profile" in self.spec.structure
        sources["profile"] = Source("spec" if written else "default", prof_loc,
                                    Layer.SPEC if written else Layer.DEFAULT)
        if stage is not None:
            deps = self.stages[stage].get("depends_on", [])
            refs = stages_named(values.values())
            run.stage_deps = list(dict.fromkeys([*deps, *refs]))
        return run

    def _check_shared_wandb_run(self, runs: list[ResolvedRun]) -> None:
        """One W&B run id for several runs would interleave their curves in one W&B run."""
        by_id: dict[str, list[ResolvedRun]] = {}
        for run in runs:
            if run.values.get("wandb_run_id"):
                by_id.setdefault(run.values["wandb_run_id"], []).append(run)
        for run_id, shared in by_id.items():
            if len(shared) > 1:
                f, ln, c = shared[0].loc("wandb_run_id")
                self.problems.append(Diagnostic(
                    "E222", ERROR, f"wandb_run_id {run_id!r} is shared by {len(shared)} runs "
                    f"({', '.join(r.run_id for r in shared)}): they would all log into one "
                    "W&B run", file=f, line=ln, col=c,
                    hint="give each run its own wandb_run_id (per stage or in the sweep), or "
                    "remove it"))

    def _finish_output_dir(self, run: ResolvedRun) -> None:
        root = self.out_root or Path("OUT")
        given = run.values.get("output_dir")
        multi = len(self.points) > 1 or len(self.stages) > 1
        if given is None:
            run.values["output_dir"] = str(root / "runs" / run.run_id / "output")
            run.sources["output_dir"] = derived("OUT/runs/<run_id>/output",
                                                (self.spec.file, 1, 1))
        else:
            base = Path(given)
            if not base.is_absolute():
                base = self.spec_dir / base
            run.values["output_dir"] = str(base / run.run_id if multi else base)
        self._outputs[run.run_id] = run.values["output_dir"]
        fill_outputs(run, self._outputs)


def dedupe(problems: list[Diagnostic], total: int) -> list[Diagnostic]:
    """One diagnostic per (code, place, message), counting the runs it affects and naming
    the first sweep point (and stage) it was found in."""
    from dataclasses import replace

    counts: dict[tuple, int] = {}
    first: dict[tuple, Diagnostic] = {}
    for d in problems:
        key = (d.code, d.file, d.line, d.col, d.message)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, d)
    out = []
    for key, d in first.items():
        if total > 1 and d.runs_total is None:
            where = dict(d.fields)
            label = "; ".join(f"{k} {v}" for k, v in where.items() if v)
            d = replace(d, runs_affected=min(counts[key], total), runs_total=total,
                        message=f"{d.message} [first at {label}]" if label else d.message)
        out.append(d)
    return out
