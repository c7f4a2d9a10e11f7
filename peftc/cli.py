"""The `peftc` command line: lint, compile, explain, schema, rules, run, smoke, merge, launch,
plan.

All errors flow through `PeftcError` and print as diagnostics; no input prints a traceback
(set PEFTC_DEBUG=1 to see one for an internal error). The ML stack is imported only by the
commands that train, inside their handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from peftc import __version__
from peftc.diagnostics import Diagnostic, PeftcError, UsageError, render
from peftc.limits import SMOKE_ROWS, SMOKE_STEPS

_CODE = re.compile(r"^[EWI]\d{3}$")
_CLUSTER_FLAGS = ("partition", "account", "nodes", "gpus_per_node", "time")


def _out(text: str) -> None:
    if text:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


# -- commands --------------------------------------------------------------------------
def cmd_lint(args: argparse.Namespace) -> int:
    from peftc.lint import LintConfig, is_spec, lint_file

    config = LintConfig(select=_split(args.select), ignore=_split(args.ignore))
    from peftc.codes import refusal, unsuppressible

    for code in unsuppressible(config.ignore):
        raise UsageError(f"--ignore {code}: {refusal(code)}")
    diags: list[Diagnostic] = []
    checked = skipped = 0
    specs = []
    for path in args.files:
        if not args.all and not is_spec(path):
            skipped += 1
            if args.verbose:
                sys.stderr.write(f"{path}: skipped: not a peftc spec (no top-level base_model "
                                 "or extends, no peftc schema modeline); --all lints it\n")
            continue
        specs.append(path)
    if args.diff:
        return _show_fixes(specs)
    if args.fix:
        _fix(specs)
    for path in specs:
        checked += 1
        diags.extend(lint_file(path, config, args.max_runs))
    if args.format == "sarif":  # a SARIF log describes the rules: it reads their registry
        from peftc import __version__, sarif

        _out(sarif.render(diags, __version__))
    else:
        _out(render(diags, args.format))
    errors = sum(d.is_error for d in diags)
    warnings = sum(d.severity == "warning" for d in diags)
    if args.format == "text" and not args.quiet:
        tail = f", {skipped} skipped (not specs)" if skipped else ""
        sys.stderr.write(f"{checked} file(s) checked: {errors} error(s), "
                         f"{warnings} warning(s){tail}\n")
    if any(d.code == "E005" for d in diags):
        return 2
    return 1 if errors or (args.strict and warnings) else 0


def _fix(paths: list[str]) -> None:
    """Make `peftc lint --fix`'s edits and say each one (stderr; the findings left follow)."""
    from peftc.fix import fix_file

    for path in paths:
        fixed = fix_file(Path(path), write=True)
        for e in fixed.edits if fixed else []:
            code = f" {e.code}" if e.code else ""
            sys.stderr.write(f"{path}:{e.line}:{e.col}: fixed{code}: {e.message}\n")


def _show_fixes(paths: list[str]) -> int:
    """`--diff`: the fixes as a unified diff, nothing written; exit 1 when there are some."""
    from peftc.fix import fix_file

    diffs = [fixed.diff() for p in paths if (fixed := fix_file(Path(p), write=False))]
    _out("".join(diffs))
    return 1 if any(diffs) else 0


def _split(values: list[str] | None) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


def cmd_compile(args: argparse.Namespace) -> int:
    from peftc.compiler import compile_spec
    from peftc.compiler.build import parse_sets
    from peftc.runner import default_out

    out = Path(args.output) if args.output else default_out(args.spec)
    compiled = compile_spec(args.spec, out, parse_sets(args.set), force=args.force,
                            dry_run=args.dry_run, slurm=args.slurm,
                            cluster={k: getattr(args, k) for k in _CLUSTER_FLAGS},
                            max_runs=args.max_runs, resolve_models=args.resolve_models)
    if compiled.warnings:
        sys.stderr.write(render(compiled.warnings) + "\n")
    if args.dry_run:
        for run in compiled.runs:
            axes = ", ".join(f"{k}={v}" for k, v in run.axes.items())
            stage = f" [{run.stage}]" if run.stage else ""
            _out(f"{run.run_id}{stage}" + (f"  {axes}" if axes else ""))
        sys.stderr.write(f"{len(compiled.runs)} run(s); nothing written (--dry-run)\n")
        return 0
    result = compiled.result
    assert result is not None
    verb = {"unchanged": "unchanged", "written": "wrote", "replaced": "replaced"}[result.status]
    _out(f"{verb} {result.out}: {len(compiled.runs)} run(s), {result.files} file(s)")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    if len(args.target) == 1 and _CODE.match(args.target[0].upper()):
        from peftc.explain import explain_code

        _out(explain_code(args.target[0].upper()))
        return 0
    if len(args.target) != 2:
        raise UsageError("usage: peftc explain CODE | peftc explain SPEC KEY [--run ID]")
    from peftc.explain import explain_key

    _out(explain_key(args.target[0], args.target[1], args.run))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.run:
        from peftc.schema.markdown import run_reference
        from peftc.schema.runfile import run_schema

        _out(run_reference() if args.markdown else json.dumps(run_schema(), indent=2))
    elif args.markdown or args.axolotl:
        from peftc.schema.markdown import axolotl_reference, reference

        _out(axolotl_reference() if args.axolotl else reference())
    else:
        from peftc.schema.validate import schema

        _out(json.dumps(schema(), indent=2))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from peftc.rules import all_rules

    rules = all_rules()
    if args.format == "json":
        _out(json.dumps([{"code": r.code, "name": r.name, "severity": r.severity,
                          "summary": r.summary} for r in rules.values()], indent=2))
        return 0
    width = max((len(r.name) for r in rules.values()), default=10)
    for r in rules.values():
        _out(f"{r.code}  {r.name:<{width}}  {r.severity:<7}  {r.summary}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from peftc.runner import run_command

    return run_command(args)


def cmd_merge(args: argparse.Namespace) -> int:
    from peftc.runtime.merge import merge

    merge(Path(args.run_dir), Path(args.output))
    _out(f"merged model written to {args.output}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from peftc.compiler.build import parse_sets
    from peftc.runner import require_training_stack

    if not Path(args.spec).is_file():
        raise UsageError(f"no such spec: {args.spec}", file=args.spec, code="E005")
    require_training_stack(args.spec)
    from peftc.runtime import smoke

    scratch = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="peftc-smoke-"))
    report = smoke.smoke(Path(args.spec), scratch, args.run_id, args.rows, args.steps,
                         parse_sets(args.set))
    _out(smoke.render(report).rstrip("\n"))
    if not args.output and not report.failed:
        shutil.rmtree(scratch, ignore_errors=True)  # a failure's logs stay for reading
    return 1 if report.failed else 0


def cmd_launch(args: argparse.Namespace) -> int:
    from peftc.launch import launch_command

    return launch_command(args)


def cmd_preview(args: argparse.Namespace) -> int:
    from peftc.preview import preview_command

    return preview_command(args)


def cmd_plan(args: argparse.Namespace) -> int:
    from peftc.plan import plan_command

    return plan_command(args)


# -- parser ----------------------------------------------------------------------------
def _max_runs(parser: argparse.ArgumentParser) -> None:
    from peftc.limits import MAX_RUNS

    parser.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="N",
                        help=f"refuse a sweep of more runs, before expanding it (default "
                        f"{MAX_RUNS:,})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peftc", description="Declarative config compiler for parameter-efficient "
        "fine-tuning: lint and compile YAML specs, then train them.")
    p.add_argument("--version", action="version", version=f"peftc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("lint", help="check specs: schema, semantics and hyperparameter advice")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--format", choices=["text", "json", "github", "sarif"], default="text",
                   help="text (default), json, github (workflow annotations) or sarif "
                   "(SARIF 2.1.0, for code-scanning uploads)")
    s.add_argument("--strict", action="store_true", help="warnings fail too")
    s.add_argument("--select", action="append", metavar="CODES", help="only these rule codes")
    s.add_argument("--ignore", action="append", metavar="CODES", help="skip these rule codes")
    s.add_argument("-q", "--quiet", action="store_true", help="no closing count line")
    s.add_argument("-v", "--verbose", action="store_true",
                   help="say which files were skipped as not peftc specs")
    s.add_argument("--fix", action="store_true", help="rewrite what has exactly one right "
                   "answer (a misspelt key with one close match, yes/no booleans, an alias "
                   "beside its key, Axolotl's old names, warmup_ratio) in the file's own text, "
                   "and say each change; then lint")
    s.add_argument("--diff", action="store_true",
                   help="show --fix's changes as a diff without writing; exit 1 when there "
                   "are some")
    s.add_argument("--all", action="store_true", help="lint every file given, not only those "
                   "that read as peftc specs (a top-level base_model or extends key, or a "
                   "peftc schema modeline)")
    _max_runs(s)
    s.set_defaults(func=cmd_lint)

    s = sub.add_parser("compile", help="expand a spec into run folders")
    s.add_argument("spec")
    s.add_argument("-o", "--output", metavar="OUT", help="default: peftc-runs/<spec name>")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    s.add_argument("--force", action="store_true", help="replace an OUT that differs")
    s.add_argument("--dry-run", action="store_true", help="list the runs, write nothing")
    s.add_argument("--slurm", action="store_true", help="also write OUT/slurm.sbatch")
    s.add_argument("--resolve-models", action="store_true",
                   help="read a model's config.json from the hub when it is not local")
    _max_runs(s)
    g = s.add_argument_group("SLURM (override the spec's cluster: section)")
    g.add_argument("--partition")
    g.add_argument("--account")
    g.add_argument("--nodes", type=int)
    g.add_argument("--gpus-per-node", type=int)
    g.add_argument("--time", metavar="HH:MM:SS")
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("explain", help="a value's provenance, or a diagnostic code's rationale")
    s.add_argument("target", nargs="+", metavar="SPEC KEY | CODE")
    s.add_argument("--run", metavar="ID", help="which run of a sweep (id or prefix)")
    s.set_defaults(func=cmd_explain)

    s = sub.add_parser("schema", help="print the spec's (or run.yaml's) JSON Schema")
    s.add_argument("--markdown", action="store_true", help="the key reference as Markdown")
    s.add_argument("--axolotl", action="store_true",
                   help="how peftc takes each Axolotl key, as Markdown (docs/axolotl.md)")
    s.add_argument("--run", action="store_true",
                   help="run.yaml's schema instead (with --markdown: docs/run-format.md)")
    s.set_defaults(func=cmd_schema)

    s = sub.add_parser("rules", help="list the advisor's lint rules")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.set_defaults(func=cmd_rules)

    s = sub.add_parser("run", help="train a compiled run (RUN_DIR) or a spec")
    s.add_argument("target", metavar="RUN_DIR|SPEC")
    s.add_argument("--run", dest="run_id", metavar="ID", help="which run of a multi-run spec")
    s.add_argument("--all", action="store_true", help="every run, in dependency order")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    s.add_argument("-o", "--output", metavar="OUT", help="compile folder for a spec")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("preview", help="the first rows of each dataset as trained, with the "
                       "trained spans marked (loads the tokenizer, not the model)")
    s.add_argument("spec")
    s.add_argument("--rows", type=int, default=3, metavar="N", help="rows per dataset "
                   "(default 3)")
    s.add_argument("--run", dest="run_id", metavar="ID", help="which run of a sweep (id or "
                   "prefix)")
    s.add_argument("--stage", help="which stage of a pipeline")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.set_defaults(func=cmd_preview)

    s = sub.add_parser("merge", help="merge a run's adapter into its base model")
    s.add_argument("run_dir")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    s.set_defaults(func=cmd_merge)

    s = sub.add_parser("smoke", help="every stage of a spec on a CPU stand-in, before the GPU")
    s.add_argument("spec")
    s.add_argument("--run", dest="run_id", metavar="ID", help="one run (and what it depends on)")
    s.add_argument("--rows", type=int, default=SMOKE_ROWS, metavar="N",
                   help="rows of each dataset")
    s.add_argument("--steps", type=int, default=SMOKE_STEPS, metavar="N",
                   help="optimizer steps per stage")
    s.add_argument("-o", "--output", metavar="SCRATCH",
                   help="keep the scratch folder here (default: a temporary one, removed "
                        "unless something fails)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    s.set_defaults(func=cmd_smoke)

    s = sub.add_parser("launch", help="run with accelerate launch (multi-GPU, multi-node)")
    s.add_argument("target", metavar="RUN_DIR|SPEC")
    s.add_argument("--run", dest="run_id", metavar="ID")
    s.add_argument("--num-processes", type=int)
    s.add_argument("--num-machines", type=int)
    s.add_argument("--machine-rank", type=int)
    s.add_argument("--main-process-ip")
    s.add_argument("--main-process-port", type=int)
    s.add_argument("--allow-world-size-change", action="store_true")
    s.add_argument("--cpu", action="store_true", help="CPU processes (gloo), for testing")
    s.add_argument("--set", action="append", metavar="KEY=VALUE")
    s.add_argument("-o", "--output", metavar="OUT")
    s.set_defaults(func=cmd_launch)

    s = sub.add_parser("plan", help="estimate GPU memory per run")
    s.add_argument("target", metavar="RUN_DIR|SPEC")
    s.add_argument("--gpu-mem", type=float, metavar="GB", help="flag runs that do not fit")
    s.add_argument("--set", action="append", metavar="KEY=VALUE")
    s.set_defaults(func=cmd_plan)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse prints its own usage message
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except PeftcError as exc:
        sys.stderr.write(render(exc.diagnostics) + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("peftc: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the one place an unexpected bug is caught
        if os.environ.get("PEFTC_DEBUG"):
            raise
        sys.stderr.write(f"peftc: internal error: {type(exc).__name__}: {exc}\n"
                         "  (set PEFTC_DEBUG=1 for the traceback, and please report it)\n")
        return 3
