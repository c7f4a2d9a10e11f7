"""`peftc preview SPEC`: the first rows of each dataset as the model will see them, after
templating and masking, with the trained spans marked. The run is compiled in memory and
its rows go through the runtime's own steps (:mod:`peftc.runtime.preview`); no model
weights are loaded, so it runs in seconds on any machine.

``--format json`` prints one object per row, one per line (a stable interface):
``dataset``, ``row``, ``input_ids``, ``labels`` (-100 where masked), ``trained_tokens`` and
``segments``, a list of ``{"text", "trained"}``: each a maximal run of tokens with the same
trained state, decoded, in order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from peftc.diagnostics import ERROR, Diagnostic, PeftcError

BRACKETS = ("[[", "]]")  # around trained text when the output is not a terminal
COLOR = ("\033[1;32m", "\033[0m")  # bold green on a terminal


def choose_run(runs: list[Any], run_id: str | None, stage: str | None) -> Any:
    """The run to preview: the one ``run_id`` starts, else the first of ``stage``, else the
    first run."""
    chosen = [r for r in runs if (run_id is None or r.run_id.startswith(run_id))
              and (stage is None or r.stage == stage)]
    if not chosen or (run_id is not None and len(chosen) > 1):
        what = "matches" if chosen else "is"
        ids = ", ".join(r.run_id for r in (chosen or runs)[:8])
        raise PeftcError(Diagnostic(
            "E000", ERROR, f"no single run {what} --run {run_id} --stage {stage}",
            file="<command line>", hint=f"runs: {ids}"), exit_code=2)
    return chosen[0]


def preview_command(args: argparse.Namespace) -> int:
    from peftc.compiler import resolve_spec
    from peftc.compiler.build import parse_sets
    from peftc.compiler.runconfig import build
    from peftc.runner import require_training_stack
    from peftc.runtime.errors import RuntimeConfigError

    compiled = resolve_spec(args.spec, parse_sets(args.set))
    run = choose_run(compiled.runs, args.run_id, args.stage)
    require_training_stack(args.spec)
    from peftc.runtime.preview import preview

    try:  # libraries print to stdout (DeepSpeed's logger): stdout carries only the rows
        with contextlib.redirect_stdout(sys.stderr):
            rows, notes = preview(build(run, compiled.spec.path.resolve().parent), args.rows)
    except RuntimeConfigError as exc:  # at the spec line that set the field it concerns
        from peftc.vocab.keys import keys_reaching

        key = next((k for k in keys_reaching(exc.field or "") if run.source(k).written), None)
        file, line, col = run.loc(key) if key else (str(args.spec), 0, 0)
        raise PeftcError(Diagnostic(exc.code, ERROR, str(exc), file=file, line=line,
                                    col=col)) from None
    for note in notes:
        sys.stderr.write(f"peftc: {note}\n")
    if args.format == "json":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    on, off = COLOR if sys.stdout.isatty() else BRACKETS
    for row in rows:
        text = "".join(f"{on}{s['text']}{off}" if s["trained"] else s["text"]
                       for s in row["segments"])
        sys.stdout.write(f"--- {row['dataset']} row {row['row']}: {row['trained_tokens']} of "
                         f"{len(row['input_ids'])} tokens trained {on}like this{off}\n"
                         f"{text}\n")
    return 0
