"""`peftc run`: pick the compiled runs to train and hand each to the runtime.

A RUN_DIR is trained as it is. A SPEC is compiled first (into `-o OUT`, default
`peftc-runs/<spec name>`; training outputs already there are kept), then one run (`--run ID`,
or the only one) or all of them (`--all`, in dependency order). Completed runs are skipped;
the dependants of a failed run are not started.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from peftc.diagnostics import ERROR, Diagnostic, PeftcError, UsageError


def run_status(output_dir: str | Path) -> str | None:
    path = Path(output_dir) / "status.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError):
        return None


def require_training_stack(where: str | Path) -> None:
    """A located usage error unless the ML stack (``peftc[train]``) is installed."""
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft", "trl", "datasets")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"training needs {', '.join(missing)}: pip install 'peftc[train]' "
                         "(with torch installed first for the CPU or CUDA build you want)",
                         file=str(where))


def train_dir(run_dir: Path) -> int:
    """Train one compiled run folder; user-facing runtime problems become diagnostics."""
    from peftc.schema import runfile

    runfile.load(run_dir)  # a missing or invalid run.yaml is said without the ML stack
    require_training_stack(run_dir)
    from peftc.runtime.errors import RuntimeConfigError
    from peftc.runtime.run import run

    try:
        code = run(run_dir)
    except RuntimeConfigError as exc:
        file, line, col = (spec_location(run_dir, exc.field)
                           or run_yaml_location(run_dir, exc.field))
        raise PeftcError(Diagnostic(exc.code, ERROR, str(exc), file=file, line=line,
                                    col=col)) from None
    if code == 1:
        import yaml

        output = yaml.safe_load((run_dir / "run.yaml").read_text(encoding="utf-8"))["output_dir"]
        error = "see status.json"
        try:
            error = json.loads((Path(output) / "status.json").read_text())["error"] or error
        except (OSError, ValueError, KeyError):
            pass
        raise PeftcError(Diagnostic("E603", ERROR, f"training failed: {error}",
                                    file=str(run_dir / "run.yaml"),
                                    hint="PEFTC_DEBUG=1 shows the traceback"))
    return code


def spec_location(run_dir: Path, field: str | None) -> tuple[str, int, int] | None:
    """Where the spec set run.yaml's ``field``: the spec keys that reach it (the key table's
    `Key.run`), found in the run's provenance.json. None when no file set them (defaults,
    values derived from other keys) or the field is unknown."""
    from peftc.vocab.keys import keys_reaching

    if not field:
        return None
    try:
        sources = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in keys_reaching(field):  # the key itself, else its first entry (``key.sub``)
        found = sources.get(key) or next((s for k, s in sources.items()
                                          if k.startswith(key + ".")), {})
        m = re.fullmatch(r"spec:(.+):(\d+):(\d+)", str(found.get("source")))
        if m:
            return m.group(1), int(m.group(2)), int(m.group(3))
    return None


def run_yaml_location(run_dir: Path, field: str | None) -> tuple[str, int, int]:
    """``field``'s line in run.yaml (the whole file when it has no field)."""
    from peftc.schema.loader import load_file

    path = run_dir / "run.yaml"
    if not field:
        return str(path), 0, 0
    parts = tuple(int(p) if p.isdigit() else p for p in field.split("."))
    try:
        line, col = load_file(path).srcmap.locate(parts, key=True)
    except PeftcError:
        return str(path), 0, 0
    return str(path), line, col


def select_runs(manifest: dict, run_id: str | None, run_all: bool, spec: str) -> list[dict]:
    runs = manifest["runs"]
    if run_id:
        chosen = [r for r in runs if r["run_id"] == run_id or r["run_id"].startswith(run_id)]
        if len(chosen) != 1:
            ids = "\n  ".join(r["run_id"] for r in runs)
            raise UsageError(f"--run {run_id} matches {len(chosen)} runs; the runs are:\n  {ids}",
                             file=spec)
        return chosen
    if run_all or len(runs) == 1:
        return runs
    ids = "\n  ".join(r["run_id"] for r in runs)
    raise UsageError(f"the spec has {len(runs)} runs: pass --run ID or --all\n  {ids}",
                     file=spec)


def default_out(spec: str | Path) -> Path:
    """Where `peftc compile/run/launch SPEC` put a spec's runs unless told (-o)."""
    return Path("peftc-runs") / Path(spec).stem


def compile_for_running(args: argparse.Namespace, run_all: bool = False) -> tuple[Path, list]:
    """Compile ``args.target`` (a spec) into ``-o`` (keeping training outputs) and pick the
    runs to execute: (OUT, manifest entries)."""
    target = Path(args.target)
    if not target.is_file():
        raise UsageError(f"no such run folder or spec: {target}", file=str(target), code="E005")
    from peftc.compiler import compile_spec
    from peftc.compiler.build import parse_sets

    out = Path(args.output) if args.output else default_out(target)
    compiled = compile_spec(target, out, parse_sets(args.set), force=True)
    if compiled.warnings:
        from peftc.diagnostics import render

        sys.stderr.write(render(compiled.warnings) + "\n")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return out, select_runs(manifest, args.run_id, run_all, str(target))


def run_command(args: argparse.Namespace) -> int:
    if Path(args.target).is_dir():
        return train_dir(Path(args.target))
    out, chosen = compile_for_running(args, args.all)
    failed: set[str] = set()
    code = 0
    for entry in chosen:
        rid = entry["run_id"]
        blocked = [d for d in entry["depends_on"] if d in failed]
        if blocked:
            sys.stderr.write(f"peftc: skipping {rid}: it depends on failed run {blocked[0]}\n")
            failed.add(rid)
            code = 1
            continue
        if run_status(entry["output_dir"]) == "completed":
            sys.stderr.write(f"peftc: {rid} already completed; skipping\n")
            continue
        sys.stderr.write(f"peftc: training {rid}\n")
        try:
            rc = train_dir(out / entry["folder"])
        except PeftcError as exc:
            if len(chosen) == 1:
                raise
            sys.stderr.write("\n".join(d.text() for d in exc.diagnostics) + "\n")
            rc = exc.exit_code
        if rc != 0:
            failed.add(rid)
            code = rc
    return code
