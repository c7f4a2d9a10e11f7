"""The compiler's entry points: `resolve_spec` (lint uses it) and `compile_spec`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peftc.compiler.resolve import Resolver, dedupe
from peftc.compiler.resolved import ResolvedRun
from peftc.compiler.specfile import Spec, load_spec
from peftc.diagnostics import Diagnostic, PeftcError
from peftc.limits import MAX_RUNS
from peftc.vocab import catalog


@dataclass
class Compiled:
    spec: Spec
    runs: list[ResolvedRun]
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # only with keep_going
    axes: list[list[str]] = field(default_factory=list)
    out_root: Path = Path("OUT")
    files: dict[str, str] = field(default_factory=dict)
    result: Any = None  # emit.WriteResult once written
    filter: Any = None  # the spec's suppress.Filter, once its findings are checked


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are read as YAML (``--set lora_r=8``)."""
    from peftc.schema.loader import load_text

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PeftcError(Diagnostic("E006", "error", f"--set expects key=value, got "
                                        f"'{item}'", file="<command line>"), exit_code=2)
        doc = load_text(f"v: {raw}" if raw.strip() else "v: ''", "<command line>")
        out[key.strip()] = doc.data["v"]
    return out


def _check_sets(sets: dict[str, Any]) -> None:
    from peftc.compiler.sweep import split_key
    from peftc.schema.validate import validate_value

    problems = []
    for key, value in sets.items():
        if key == "profile":
            continue
        msg = validate_value(split_key(key), value)
        if msg:
            problems.append(Diagnostic("E006", "error", f"--set {key}: {msg}",
                                       file="<command line>"))
    if problems:
        raise PeftcError(problems, exit_code=2)


def resolve_spec(path: str | Path, sets: dict[str, Any] | None = None,
                 out_root: Path | None = None, *,
                 max_runs: int = MAX_RUNS, resolve_models: bool = False,
                 keep_going: bool = False) -> Compiled:
    """Load, validate and resolve every run of a spec (no files written). Each run records
    the value every layer gave each key (for `peftc explain`). With ``resolve_models``, a
    model's config.json is read from the hub when it is not local.

    The blocking rules (those whose findings are errors) run too; errors raise one
    PeftcError with every finding, filtered as lint filters them. With ``keep_going`` (lint)
    nothing is raised, filtered or checked by rules: the errors are in ``Compiled.errors`` and
    the runs, resolved from the values that validated, are returned for the rules."""
    _check_sets(sets or {})
    spec = load_spec(path)
    try:
        resolver = Resolver(spec, sets, out_root, max_runs, resolve_models)
        runs = resolver.runs()
    except PeftcError as exc:  # one pass: the loading warnings are reported with the errors
        raise PeftcError([*spec.warnings, *spec.errors, *exc.diagnostics],
                         exc.exit_code) from None
    compiled = Compiled(spec, runs, [*spec.warnings, *resolver.warnings],
                        errors=[*spec.errors, *resolver.errors],
                        axes=[list(a.keys) for a in resolver.axes],
                        out_root=out_root or Path("OUT"))
    if keep_going:
        return compiled
    from peftc.rules import check_runs
    from peftc.suppress import Filter

    compiled.filter = flt = Filter.of(compiled)
    errors = flt([*compiled.errors, *check_runs(runs, spec.left_out, blocking=True)])
    compiled.warnings = flt(compiled.warnings)
    if errors:
        raise PeftcError([*errors, *compiled.warnings])
    return compiled


def provenance(run: ResolvedRun) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(run.values):
        value = run.values[key]
        if isinstance(value, dict) and value:
            for sub in value:
                out[f"{key}.{sub}"] = {"value": value[sub],
                                       "source": run.source(f"{key}.{sub}").label}
        else:
            out[key] = {"value": value, "source": run.source(key).label}
            if isinstance(value, list):  # each datasets entry at its own line
                for i, item in enumerate(value):
                    if isinstance(item, dict) and f"{key}.{i}" in run.sources:
                        out[f"{key}.{i}"] = {"value": item,
                                             "source": run.source(f"{key}.{i}").label}
    return out


def render_files(compiled: Compiled) -> dict[str, str]:
    """Every file of OUT, in memory; contradictions found while rendering raise."""
    from peftc.compiler import launchfiles, runconfig, summary
    from peftc.compiler.emit import SectionCache, dump_json, dump_json_pretty

    spec = compiled.spec
    spec_dir = spec.path.resolve().parent
    cluster = spec.structure.get("cluster", {})
    files: dict[str, str] = {}
    problems: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    manifest_runs = []
    sections = SectionCache()
    for run in compiled.runs:
        base = f"runs/{run.run_id}"
        cfg = runconfig.build(run, spec_dir)
        files[f"{base}/run.yaml"] = sections.dump(cfg)
        files[f"{base}/provenance.json"] = dump_json(provenance(run))
        ds, ds_problems = launchfiles.deepspeed_config(run, spec_dir)
        problems.extend(d for d in ds_problems if d.is_error)
        notes.extend(d for d in ds_problems if not d.is_error)
        if ds is not None:
            files[f"{base}/deepspeed.json"] = dump_json_pretty(ds)
        files[f"{base}/accelerate.yaml"] = launchfiles.accelerate_yaml(
            run, ds, cluster, compiled.out_root / base)
        files[f"{base}/launch.sh"] = launchfiles.launch_sh(run)
        manifest_runs.append({
            "run_id": run.run_id, "folder": base, "stage": run.stage,
            "depends_on": run.depends_on, "axes": run.axes, "output_dir": cfg["output_dir"],
            "resolved": {k: run.values[k] for k in sorted(run.values)},
        })
    if problems:
        raise PeftcError(dedupe(problems, len(compiled.runs)))
    compiled.warnings.extend(dedupe(notes, len(compiled.runs)))
    from peftc import __version__

    head = dump_json({"peftc_version": __version__, "spec": spec.file,
                      "axes": compiled.axes})[:-3]
    rows = ",\n".join("    " + json.dumps(r) for r in manifest_runs)
    files["manifest.json"] = f'{head},\n  "runs": [\n{rows}\n  ]\n}}\n'  # a run per line
    used = dict.fromkeys(r.values["profile"] for r in compiled.runs)
    profiles = {**catalog.PROFILES, **{n: p for n, p in spec.structure.get(
        "profiles", {}).items()}}
    shown = {n: p for n, p in profiles.items() if n in catalog.PROFILES or n in used}
    title = spec.structure.get("name") or spec.path.stem
    files["summary.md"] = summary.render(title, compiled.runs, shown)
    return files


def compile_spec(path: str | Path, out: Path, sets: dict[str, Any] | None = None, *,
                 force: bool = False, dry_run: bool = False, slurm: bool = False,
                 cluster: dict[str, Any] | None = None, max_runs: int = MAX_RUNS,
                 resolve_models: bool = False) -> Compiled:
    """Resolve a spec and write its run folders into ``out``. It stops, writing nothing, on
    any error `peftc lint` would report (the advisor's blocking rules included), filtered as
    lint filters; ``Compiled.warnings`` holds the rest."""
    from peftc.compiler.emit import write_tree
    out = Path(out)
    compiled = resolve_spec(path, sets, out.resolve(), max_runs=max_runs,
                            resolve_models=resolve_models)
    from peftc.rules import check_runs

    # the advisor's findings, as lint reports them: a warning raised to an error stops here
    advice = compiled.filter(check_runs(compiled.runs, blocking=False))
    if any(d.is_error for d in advice):
        raise PeftcError([*advice, *compiled.warnings])
    compiled.warnings.extend(advice)
    if dry_run:
        return compiled
    files = render_files(compiled)
    compiled.warnings = compiled.filter(compiled.warnings)  # with the launch files' notes
    executable = {k for k in files if k.endswith(".sh") or k.endswith(".sbatch")}
    if slurm:
        from peftc.compiler.slurm import sbatch

        files.update(sbatch(compiled, out.resolve(), cluster))
        executable.update({"slurm.sbatch", "slurm-submit.sh"})
    compiled.files = files
    compiled.result = write_tree(out, files, force=force, executable=frozenset(executable))
    return compiled
