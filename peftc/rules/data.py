"""Data rules: a run without data, a dataset type the trainer cannot take, a local file that
is not there or whose first rows do not fit its type, and a chat template that cannot be
read. Local files are looked for beside the spec (``paths.find_local``); their first rows are
read within ``peek``'s bounds, and go through the runtime's own row formatter, so a column the
run would miss is found here, at the dataset's line, not after the model has loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from peftc.compiler import peek, runconfig
from peftc.compiler.local import adapter_dir, from_stage, read_template
from peftc.compiler.paths import (
    ELSEWHERE_HINT,
    WHERE_HINT,
    elsewhere,
    find_local,
    looks_local,
    tried,
)
from peftc.diagnostics import did_you_mean
from peftc.rules import Finding, rule
from peftc.rules._common import is_dpo, method_of
from peftc.vocab import catalog
from peftc.vocab.chat_templates import NAMED
from peftc.vocab.datasets import DATASET_TYPES, Trainer, names_for
from peftc.vocab.keys import role_of

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

DATASET_DOCS = "Axolotl's dataset formats (docs/dataset-formats) and its prompt strategies"


def _entries(run: ResolvedRun) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each datasets entry (as derive filled it in) with the key of its own line."""
    for i, item in enumerate(run.values.get("datasets") or []):
        yield f"datasets.{i}", item


def _fits_trainer(run: ResolvedRun, item: dict[str, Any]) -> bool:
    """The entry's type is of the run's trainer's kind (preference rows for DPO)."""
    return (DATASET_TYPES[item["type"]].trainer is Trainer.DPO) == is_dpo(run)


def _not_here(run: ResolvedRun) -> Iterator[tuple[str, str, bool]]:
    """(entry key, path, may be elsewhere) of each local dataset path not found here: E213,
    or W213 when it is absolute or outside the spec's repository."""
    for at, item in _entries(run):
        path = item["path"]
        if looks_local(path) and find_local(path, run.spec_dir) is None:
            yield at, path, elsewhere(path, run.spec_dir)


@rule("E211", "no-training-data", severity="error",
      summary="no training data: neither datasets nor a built-in task",
      rationale="A run trains on its datasets, or on the datasets of a built-in task plugin. "
                "Without either there is nothing to train on; a task that is not a plugin "
                "brings no data.",
      fix=f"list datasets, or set task to one of {', '.join(catalog.TASKS)}",
      reference=DATASET_DOCS,
      bad="datasets: null",
      good="datasets:\n  - path: data/alpaca.jsonl\n    type: alpaca")
def no_training_data(run: ResolvedRun) -> Iterator[Finding]:
    if run.values.get("datasets"):
        return
    task = run.values.get("task")
    if task is None:
        yield Finding("task", f"no training data: set 'task' ({', '.join(catalog.TASKS)}) or "
                      "'datasets'")
    else:
        yield Finding("task", f"task '{task}' is not a built-in plugin"
                      f"{did_you_mean(task, catalog.TASKS)}; give its 'datasets'")


@rule("E212", "dataset-type-and-trainer", severity="error",
      summary="a dataset type the run's trainer cannot take (SFT rows for DPO, or the reverse)",
      rationale="DPO trains on preference pairs (a prompt, a chosen and a rejected answer); "
                "SFT trains on single answers. A dataset of the other kind has none of the "
                "columns the trainer needs.",
      fix=f"for rl: dpo, use one of {', '.join(names_for(Trainer.DPO))}; for a preference "
          "dataset, set rl: dpo",
      reference=DATASET_DOCS,
      bad="datasets:\n  - path: data/preference.jsonl\n    type: chatml.intel",
      good="rl: dpo\ndatasets:\n  - path: data/preference.jsonl\n    type: chatml.intel")
def dataset_type_and_trainer(run: ResolvedRun) -> Iterator[Finding]:
    for at, item in _entries(run):
        if _fits_trainer(run, item):
            continue
        if is_dpo(run):
            yield Finding(at, f"rl: dpo trains on preference data, but dataset "
                          f"'{item['path']}' has type '{item['type']}'")
        else:
            yield Finding(at, f"preference dataset '{item['path']}' (type {item['type']}) "
                          "needs rl: dpo")


@rule("E213", "dataset-not-there", severity="error",
      summary="a local dataset file that is not there",
      rationale="A path that can only be local (it starts with /, . or ~, or ends in a data "
                "file's suffix) and that is found neither beside the spec nor in the working "
                "directory, inside the spec's repository, would fail the run once it starts.",
      fix=f"fix the path ({WHERE_HINT})",
      reference=DATASET_DOCS,
      bad="datasets:\n  - path: data/missing.jsonl\n    type: alpaca",
      good="datasets:\n  - path: data/alpaca.jsonl\n    type: alpaca")
def dataset_not_there(run: ResolvedRun) -> Iterator[Finding]:
    for at, path, maybe_elsewhere in _not_here(run):
        if not maybe_elsewhere:
            yield Finding(at, f"dataset {path} is not there (not found: "
                          f"{tried(path, run.spec_dir)})")


@rule("W213", "local-path-elsewhere",
      summary="a local path that is not here, but may be where the run executes",
      rationale="An absolute path, or one outside the spec's repository (a dataset, "
                "lora_model_dir), names a file of the machine that runs the training, which "
                "need not be the one that lints. Lint cannot see it; `peftc run` and "
                "`peftc launch` check it before loading the model (E611).",
      fix=ELSEWHERE_HINT,
      reference="Axolotl's dataset loading (axolotl/utils/data: local paths)",
      bad="datasets:\n  - path: /nowhere/data.jsonl\n    type: alpaca",
      good="datasets:\n  - path: data/alpaca.jsonl\n    type: alpaca")
def local_path_elsewhere(run: ResolvedRun) -> Iterator[Finding]:
    for at, path, maybe_elsewhere in _not_here(run):
        if maybe_elsewhere:
            yield Finding(at, f"dataset {path} is not found here; it must exist where the run "
                          "executes")
    given = run.values.get("lora_model_dir")
    record = method_of(run)
    if given and record and record.lora and not from_stage(run, "lora_model_dir") and \
            adapter_dir(given, run.spec_dir).elsewhere:  # not LoRA at all: E221 alone
        yield Finding("lora_model_dir", f"lora_model_dir {given} is not found here; it must "
                      "exist where the run executes")


def _first_rows(run: ResolvedRun, item: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A local file's first rows (bounded), when its type fits the trainer (else E212)."""
    found = find_local(item["path"], run.spec_dir)
    if found is None or not _fits_trainer(run, item):
        return None
    return peek.first_rows(found)


@rule("E225", "rows-do-not-fit-type", severity="error",
      summary="a local dataset's first rows lack the columns its type reads",
      rationale="Each dataset type reads named columns (alpaca: instruction, input, output; "
                "chat_template: a list of messages; the DPO types: prompt, chosen, "
                "rejected). The first rows of a local file go through the runtime's own row "
                "formatter: a row it cannot format would stop the run after the model has "
                "loaded.",
      fix="map the columns with field_* keys (field_messages for chat rows), or pick the type "
          "that fits the file",
      reference=DATASET_DOCS,
      bad="datasets:\n  - path: data/chat.jsonl\n    type: alpaca",
      good="datasets:\n  - path: data/chat.jsonl\n    type: chat_template")
def rows_do_not_fit_type(run: ResolvedRun) -> Iterator[Finding]:
    from peftc.runtime.errors import RuntimeConfigError
    from peftc.runtime.formatters import row_formatter

    for at, item in _entries(run):
        rows = _first_rows(run, item)
        if not rows:
            continue
        entry = {**item, "fields": runconfig.fields_of(item)}
        formatter = row_formatter(entry, bool(run.values.get("train_on_inputs")))
        for i, row in enumerate(rows, start=1):
            try:
                formatter(row)
            except RuntimeConfigError as exc:
                what = exc.message.removeprefix("data: ")
                yield Finding(at, f"dataset '{item['path']}', row {i}: {what}; the row has "
                              f"{', '.join(map(str, row)) or 'no columns'}")
                break
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                yield Finding(at, f"dataset '{item['path']}', row {i} does not fit type "
                              f"'{item['type']}' ({type(exc).__name__}: {exc})")
                break


@rule("E217", "role-never-trained", severity="error",
      summary="roles_to_train names a role the first rows of a local dataset never use",
      rationale="Only the turns of the roles in roles_to_train carry loss. A role no turn has "
                "(a misspelling, or a role map that renames it) trains nothing, and if it is "
                "the only one, the run learns nothing at all. Judged on the file's first rows, "
                "so this error alone can be ignored (lint: ignore) when later rows have it.",
      fix="check roles and message_property_mappings, or the role's spelling",
      reference=DATASET_DOCS,
      bad="datasets:\n  - path: data/chat.jsonl\n    type: chat_template\n"
          "    roles_to_train: [assistent]",
      good="datasets:\n  - path: data/chat.jsonl\n    type: chat_template\n"
           "    roles_to_train: [assistant]")
def role_never_trained(run: ResolvedRun) -> Iterator[Finding]:
    for at, item in _entries(run):
        if not DATASET_TYPES[item["type"]].chat or not (rows := _first_rows(run, item)):
            continue
        column = item.get("field_messages", "messages")
        role_key = item["message_property_mappings"]["role"]
        raw = {t.get(role_key) for row in rows if isinstance(row.get(column), list)
               for t in row[column] if isinstance(t, dict)}
        to_template = role_of(item["roles"])
        seen = {to_template.get(r, r) for r in raw}
        unused = [r for r in item["roles_to_train"] if r not in seen]
        if seen and unused:
            yield Finding(at, f"roles_to_train {unused} of dataset '{item['path']}': no turn "
                          f"of its first rows has that role (they have "
                          f"{sorted(map(str, seen))})")


@rule("E214", "chat-template-unreadable", severity="error",
      summary="chat_template is neither a built-in name nor a Jinja template that parses",
      rationale="The chat template renders every conversation the run trains on, and marks "
                "which tokens carry loss. A name peftc does not know, a fallback to one, "
                "jinja without chat_template_jinja (or naming a file that is not there), or "
                "Jinja that does not parse would fail when the tokenizer renders the first "
                "row. The Jinja is parsed, never rendered.",
      fix=f"use tokenizer_default, a name ({', '.join(NAMED)}), or jinja with "
          "chat_template_jinja: the template's text, or a file beside the spec",
      reference="Axolotl's chat templates (axolotl/utils/chat_templates), transformers' "
                "apply_chat_template",
      bad="chat_template: llama-3",
      good="chat_template: llama3")
def chat_template_unreadable(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    _, why = read_template(v["chat_template"], v.get("chat_template_jinja"), run.spec_dir)
    if why:
        yield Finding("chat_template_jinja" if why[1] else "chat_template", why[0])
    for at, item in _entries(run):
        if "chat_template" in item:  # its own, as written when it cannot be read (derive)
            _, why = read_template(item["chat_template"], item.get("chat_template_jinja"),
                                   run.spec_dir)
            if why:
                yield Finding(at, f"dataset '{item['path']}': {why[0]}")
