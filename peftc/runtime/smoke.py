"""`peftc smoke SPEC`: every stage of every run on a CPU in about a minute, before the GPU.

Each run is compiled as `peftc run` compiles it, into a scratch folder, and trained by the same
runtime (:func:`peftc.runtime.run.execute`) with these changes, all disclosed in the report:

- the base model is a *stand-in*: a tiny random model of the same architecture, built from the
  model's own ``config.json`` with its dimensions shrunk (:mod:`peftc.runtime.shrink`) when it
  is at hand, else from transformers' config class of the run's family;
- the tokenizer is the real one when it is at hand, else the embedded model's (with the spec's
  chat template, which the runtime applies as for any tokenizer);
- each dataset is its first rows (read streaming, so a remote one is not downloaded whole);
- training is a few optimizer steps of small batches in one process, in full precision where
  the spec asks for fp16 (which a CPU cannot train in); nothing is reported to W&B.

Around the run, smoke checks what the stand-in cannot show by failing: target modules that
the architecture does not have (PEFT silently skips some of a list), a sequence length beyond
the model's context, a quantization the checkpoint cannot take. After it, the adapter is
reloaded, merged when it can be (``peftc merge``'s code), and one sample is generated.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peftc.limits import SMOKE_ROWS, SMOKE_STEPS
from peftc.runtime.errors import RuntimeConfigError
from peftc.vocab.methods import METHODS

ROWS, STEPS, BATCH = SMOKE_ROWS, SMOKE_STEPS, 2
CHECKS = ("model", "targets", "context", "data", "train", "reload", "merge", "sample")
OK, SKIPPED, NOT_MERGEABLE = "ok", "-", "n/a"  # n/a: prompt learning does not merge
NO_CPU_ATTENTION = ("flash_attention_2", "flash_attention_3")


@dataclass
class Row:
    """One stage of one run: each check's outcome ("ok", "-" when not reached, else why not)."""

    stage: str
    run_id: str
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(v not in (OK, SKIPPED, NOT_MERGEABLE) for v in self.checks.values())

    def fail(self, check: str, why: str) -> None:
        self.checks[check] = why


@dataclass
class StandIn:
    """The tiny model that stands in for one base model, and how it was made."""

    folder: Path
    made_from: str  # for the report
    tokenizer: str  # for the report
    modules: frozenset[str]  # every module name of the architecture
    linear: frozenset[str]  # the last name part of each linear layer
    quantized: str | None  # the checkpoint's own quantization (config.json quantization_config)
    attention: str = "sdpa"  # the attention a CPU runs it with: sdpa where it can, else eager


class StandInError(Exception):
    """No stand-in can be built for a base model."""


def _tokenizer(name: str, revision: str | None) -> tuple[Any, bool]:
    """(the real tokenizer when it is at hand, True), else (the embedded model's, False)."""
    from transformers import AutoTokenizer

    from peftc.runtime.tiny_model import ASSETS, TINY_LLAMA

    if name != TINY_LLAMA:
        with contextlib.suppress(Exception):  # not local, not cached, or not loadable offline
            return AutoTokenizer.from_pretrained(name, revision=revision,
                                                 local_files_only=True), True
    return AutoTokenizer.from_pretrained(str(ASSETS)), False


def build_stand_in(model: dict[str, Any], tokenizer_section: dict[str, Any],
                   config: Any, family: str | None, folder: Path) -> StandIn:
    """A stand-in for the run's base model in ``folder``: from ``config`` (the model's
    config.json, a :class:`~peftc.compiler.modelconfig.ModelConfig`) when at hand, else from
    ``family``'s config class; with the real tokenizer when at hand."""
    from peftc.runtime import shrink
    from peftc.runtime.tiny_model import TINY_LLAMA, resolve_model_path
    from peftc.vocab.families import FAMILIES

    name = model["name_or_path"]
    revision = (model.get("from_pretrained") or {}).get("revision")
    if name == TINY_LLAMA:  # already tiny: the embedded model itself
        from transformers import AutoModelForCausalLM

        built = Path(resolve_model_path(name))
        return _described(built, AutoModelForCausalLM.from_pretrained(built),
                          "the embedded model itself", "the embedded model's")
    tokenizer, real = _tokenizer(tokenizer_section["name_or_path"], revision)
    if config is not None:
        raw, made_from = dict(config.raw), f"{name}'s config.json ({config.where})"
    elif family in FAMILIES:
        model_type = FAMILIES[family].model_types[0]
        raw = shrink.class_defaults(model_type)
        made_from = (f"transformers' {model_type} config class (the {family} family; "
                     f"{name}'s config.json is not at hand)")
    else:
        raise StandInError(f"{name}: no config.json at hand and no known family to build a "
                           "stand-in from; download the model (or its config.json) first")
    fits = real and config is not None and raw.get("vocab_size", 0) >= len(tokenizer)
    small = shrink.shrink(raw, vocab_size=None if fits else len(tokenizer))
    if not fits:  # the vocabulary is the tokenizer's: so are the special tokens
        small.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id)
    try:
        built_model = shrink.build(small)
    except Exception as exc:  # transformers raises many types for a config it cannot build
        raise StandInError(f"{name}: cannot build a stand-in of model_type "
                           f"{small.get('model_type')!r}: {type(exc).__name__}: {exc}") from exc
    built_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return _described(folder, built_model, made_from, "the real one" if real else
                      "the embedded model's (the real one is not at hand)",
                      (raw.get("quantization_config") or {}).get("quant_method"))


def _described(folder: Path, model: Any, made_from: str, tokenizer: str,
               quantized: str | None = None) -> StandIn:
    import torch

    modules = dict(model.named_modules())
    linear = frozenset(n.rsplit(".", 1)[-1] for n, m in modules.items()
                       if isinstance(m, torch.nn.Linear))
    size = sum(p.numel() for p in model.parameters()) / 1e6
    return StandIn(folder, f"{made_from}; {type(model).__name__}, {size:.1f}M parameters",
                   tokenizer, frozenset(n for n in modules if n),
                   linear, quantized,
                   "sdpa" if getattr(type(model), "_supports_sdpa", False) else "eager")


def rewrite(run: dict[str, Any], stand_in: StandIn, data_dir: Path, rows: int, steps: int,
            notes: set[str]) -> dict[str, Any]:
    """``run`` (a run.yaml) as smoke trains it; every change that matters goes to ``notes``."""
    import torch

    from peftc.runtime.adapter import uses_loftq

    run = json.loads(json.dumps(run))  # a deep copy
    model, fp = run["model"], run["model"].get("from_pretrained") or {}
    model["name_or_path"] = run["tokenizer"]["name_or_path"] = str(stand_in.folder)
    fp["revision"] = None
    if fp.get("attn_implementation") in NO_CPU_ATTENTION:
        notes.add(f"attention: {stand_in.attention} instead of {fp['attn_implementation']} (a "
                  "GPU kernel)")
        fp["attn_implementation"] = stand_in.attention
    precision = run.get("precision") or {}
    if precision.get("fp16") is True or precision.get("float16"):
        notes.add("precision: fp32 instead of fp16, which a CPU does not train in")
        precision.update(fp16=False, float16=False)
    launch = run["launch"]
    if launch.get("num_processes", 1) > 1 or launch.get("deepspeed") or launch.get("fsdp"):
        notes.add("launch: one process, without DeepSpeed or FSDP")
    launch.update(num_processes=1, num_machines=1, deepspeed=None, fsdp=False)
    adapter = run["adapter"].get("config") or {}
    if uses_loftq(run["adapter"]) and not torch.cuda.is_available():
        notes.add("adapter: LoftQ initialises on a GPU only; smoke initialises LoRA as usual")
        adapter.update(init_lora_weights=True, loftq_config={})
    run["report"] = {"wandb": None}
    run["samples"]["prompts"] = []  # no generation: smoke measures training only
    data = run["data"]
    data["prepared_path"] = str(data_dir / "prepared")
    for i, entry in enumerate(data["datasets"]):
        entry.update(path=str(first_rows(entry, rows, data_dir / f"{run['run_id']}-{i}.jsonl")),
                     local=True, builder="json", data_files=None, name=None, revision=None,
                     split="train")
    if data.get("val_set_size"):
        data["val_set_size"] = 0.25
    notes.add(f"data: the first {rows} rows of each dataset (a quarter held out when the spec "
              "holds some out)")
    trainer = run["trainer"]
    trainer["resume_from_checkpoint"] = None
    trainer["config"].update(
        max_steps=steps, gradient_accumulation_steps=1, logging_steps=1, save_strategy="no",
        eval_strategy="no", eval_on_start=False, load_best_model_at_end=False, report_to=[],
        per_device_train_batch_size=min(trainer["config"]["per_device_train_batch_size"], BATCH),
        per_device_eval_batch_size=min(trainer["config"]["per_device_eval_batch_size"], BATCH))
    notes.add(f"training: {steps} optimizer steps of at most {BATCH} rows" +
              (", evaluated once" if data.get("val_set_size") else ""))
    return run


def first_rows(entry: dict[str, Any], rows: int, dest: Path) -> Path:
    """The first ``rows`` rows of a data.datasets entry, written to ``dest`` as JSON lines;
    read streaming, so that a remote dataset is not downloaded whole."""
    from datasets import load_dataset

    from peftc.runtime.data import load_arguments, load_error

    what, kwargs = load_arguments(entry)
    # a streamed split cannot be sliced (train[:10%]): smoke takes the split's first rows
    kwargs["split"] = kwargs["split"].split("[", 1)[0]
    try:
        taken = list(load_dataset(what, streaming=True, **kwargs).take(rows))
    except Exception as exc:  # datasets raises many types (see load_error)
        raise load_error(entry, exc) from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8") as f:
        for row in taken:
            f.write(json.dumps(row, default=str) + "\n")
    return dest


def check_targets(adapter: dict[str, Any], stand_in: StandIn) -> str:
    """"ok", or the listed modules the architecture does not have: PEFT refuses an adapter
    none of whose targets exist, and silently skips the rest when some do."""
    config = adapter.get("config") or {}
    found = []
    for key in ("target_modules", "feedforward_modules", "modules_to_save"):
        names = config.get(key)
        if not isinstance(names, list):  # None, or a regular expression / all-linear
            continue
        missing = [str(n) for n in names if not any(
            m == n or m.endswith(f".{n}") for m in stand_in.modules)]
        if missing:
            found.append(f"{key} {', '.join(missing)}")
    if not found:
        return OK
    return (f"the model has no {'; no '.join(found)} (its linear layers: "
            f"{', '.join(sorted(stand_in.linear - {'lm_head'}))})")


def check_context(run: dict[str, Any], resolved: Any) -> str:
    """"ok", or the sequence length beyond the context of the model's config.json (lint's W182
    knows the context from the model id too; only the config is sure enough to fail on)."""
    from peftc.rules._common import native_context

    length = run["trainer"]["config"].get("max_length")
    context = native_context(resolved) if resolved.model_config is not None else None
    if context and length and length > context[0] and not run["model"].get("config_overrides"):
        return f"sequence_len {length} exceeds the model's context {context[0]} ({context[1]})"
    return OK


def check_quantization(run: dict[str, Any], stand_in: StandIn) -> str:
    quantization = run.get("quantization") or {}
    if stand_in.quantized and (quantization.get("load_in_4bit") or
                               quantization.get("load_in_8bit")):
        return (f"the checkpoint is already quantized ({stand_in.quantized}): bitsandbytes "
                "cannot quantize it again; use adapter: lora without load_in_4bit/8bit")
    return OK


@dataclass
class Report:
    """What :func:`smoke` found: a row per stage, the stand-ins, and what smoke changed."""

    spec: str
    scratch: Path
    rows: list[Row]
    stand_ins: dict[str, StandIn]  # base model -> its stand-in
    notes: set[str]

    @property
    def failed(self) -> bool:
        return any(row.failed for row in self.rows)


def smoke(spec: Path, scratch: Path, run_id: str | None = None, rows: int = ROWS,
          steps: int = STEPS, sets: dict[str, Any] | None = None) -> Report:
    """Compile ``spec`` into ``scratch`` and smoke-test each run (``run_id`` and the runs it
    depends on, when given), in dependency order."""
    import datasets
    from transformers.utils import logging

    from peftc.compiler import compile_spec
    from peftc.runner import select_runs
    from peftc.runtime.run import read_run

    logging.disable_progress_bar()  # the report is the output; each stage's log has the rest
    datasets.disable_progress_bars()
    compiled_dir = scratch / "compiled"
    compiled = compile_spec(spec, compiled_dir, sets, force=True)
    manifest = json.loads((compiled_dir / "manifest.json").read_text(encoding="utf-8"))
    entries = manifest["runs"]
    if run_id:
        [chosen] = select_runs(manifest, run_id, False, str(spec))
        needed = _with_dependencies(chosen["run_id"], entries)
        entries = [e for e in entries if e["run_id"] in needed]
    resolved = {r.run_id: r for r in compiled.runs}
    report = Report(str(spec), scratch, [], {}, set())
    built: dict[tuple[str, str], StandIn | StandInError] = {}
    untrained: set[str] = set()  # runs whose dependants have no adapter to start from
    for entry in entries:
        rid, run_dir = entry["run_id"], compiled_dir / entry["folder"]
        row = Row(entry.get("stage") or "-", rid, dict.fromkeys(CHECKS, SKIPPED))
        report.rows.append(row)
        blocked = [d for d in entry["depends_on"] if d in untrained]
        if blocked:
            row.fail("train", f"not run: it depends on {blocked[0]}, which did not train")
            untrained.add(rid)
            continue
        run = read_run(run_dir)
        key = (run["model"]["name_or_path"], run["tokenizer"]["name_or_path"])
        if key not in built:
            try:
                built[key] = build_stand_in(run["model"], run["tokenizer"],
                                            resolved[rid].model_config, run["model"].get("family"),
                                            scratch / "models" / str(len(built)))
            except StandInError as exc:
                built[key] = exc
        stand_in = built[key]
        if isinstance(stand_in, StandInError):
            row.fail("model", str(stand_in))
        else:
            report.stand_ins.setdefault(key[0], stand_in)
            _smoke_run(row, run, run_dir, stand_in, resolved[rid], scratch, rows, steps,
                       report.notes)
        if row.checks["train"] != OK:
            untrained.add(rid)
    return report


def _with_dependencies(run_id: str, entries: list[dict[str, Any]]) -> set[str]:
    by_id = {e["run_id"]: e for e in entries}
    needed, todo = set(), [run_id]
    while todo:
        rid = todo.pop()
        if rid not in needed:
            needed.add(rid)
            todo += by_id[rid]["depends_on"]
    return needed


def _smoke_run(row: Row, run: dict[str, Any], run_dir: Path, stand_in: StandIn, resolved: Any,
               scratch: Path, rows: int, steps: int, notes: set[str]) -> None:
    import yaml

    row.checks["model"] = check_quantization(run, stand_in)
    row.checks["targets"] = check_targets(run["adapter"], stand_in)
    row.checks["context"] = check_context(run, resolved)
    prompt = next(iter((run.get("samples") or {}).get("prompts") or []), "Hello")
    try:
        smoke_run = rewrite(run, stand_in, scratch / "data", rows, steps, notes)
    except RuntimeConfigError as exc:
        row.fail(*_classified(exc, run_dir))
        return
    (run_dir / "run.yaml").write_text(yaml.safe_dump(smoke_run, sort_keys=False),
                                      encoding="utf-8")
    log = scratch / "logs" / f"{row.run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as f, contextlib.redirect_stdout(f), \
            contextlib.redirect_stderr(f):  # the report is smoke's output; the log has the rest
        if _train(row, run_dir, log):
            _reload_merge_sample(row, run_dir, scratch / "merged" / row.run_id, prompt,
                                 not METHODS[run["adapter"]["method"]].prompt_learning)


def _train(row: Row, run_dir: Path, log: Path) -> bool:
    """Train the rewritten run as `peftc run` does."""
    import gc

    from peftc.runtime.run import execute

    try:
        outcome = execute(run_dir)
    except RuntimeConfigError as exc:
        row.fail(*_classified(exc, run_dir))
        return False
    finally:
        gc.collect()
    if outcome.exit_code != 0:
        status = json.loads((Path(outcome_dir(run_dir)) / "status.json").read_text())
        row.fail("train", f"{status.get('error') or status.get('status')} (log: {log})")
        return False
    row.checks["data"] = row.checks["train"] = OK
    return True


def _classified(exc: RuntimeConfigError, run_dir: Path) -> tuple[str, str]:
    """(the check a runtime error fails, its message with where the spec set its key)."""
    from peftc.runner import spec_location

    check, message = "train", exc.message
    if message.startswith("data: "):
        check, message = "data", message.removeprefix("data: ")
    where = spec_location(run_dir, exc.field)
    return check, f"{message} ({':'.join(map(str, where))})" if where else message


def outcome_dir(run_dir: Path) -> str:
    from peftc.runtime.run import read_run

    return read_run(run_dir)["output_dir"]


def _reload_merge_sample(row: Row, run_dir: Path, merged_dir: Path, prompt: str,
                         mergeable: bool) -> None:
    """Reload the saved adapter onto a fresh base and merge it (`peftc merge`'s code); a
    prompt-learning adapter, which cannot merge, is reloaded with PEFT. Then generate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peftc.runtime.merge import merge

    check = "merge" if mergeable else "reload"
    try:
        if mergeable:
            merge(run_dir, merged_dir)
            model = AutoModelForCausalLM.from_pretrained(merged_dir)
            tokenizer = AutoTokenizer.from_pretrained(merged_dir)
        else:
            model, tokenizer = _reload(run_dir)
        check = "sample"
        row.checks.update(reload=OK, merge=OK if mergeable else NOT_MERGEABLE)
        row.checks["sample"] = generate(model, tokenizer, prompt)
    except Exception as exc:  # PEFT and transformers raise many types
        row.fail(check, str(exc) if isinstance(exc, RuntimeConfigError)
                 else f"{type(exc).__name__}: {exc}")


def _reload(run_dir: Path) -> tuple[Any, Any]:
    from peft import PeftModel

    from peftc.runtime.model import load_base, load_tokenizer
    from peftc.runtime.run import read_run

    run = read_run(run_dir)
    tokenizer = load_tokenizer(run["tokenizer"])
    base = load_base(run["model"], "float32", tokenizer)
    return PeftModel.from_pretrained(base, run["output_dir"]), tokenizer


def generate(model: Any, tokenizer: Any, prompt: str, new_tokens: int = 8) -> str:
    """Generate from ``prompt`` (in the chat template when the tokenizer has one): "ok", or
    why not."""
    if tokenizer.chat_template:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                               add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt")
    else:
        inputs = tokenizer(prompt, return_tensors="pt")
    n = inputs["input_ids"].shape[-1]
    out = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return OK if out.shape[-1] > n else "generated no token"


def render(report: Report) -> str:
    """The report: one table, a row per stage, then why each failure, the stand-ins and what
    smoke changed."""
    head = ("stage", "run", *CHECKS)
    table = [head] + [(r.stage, r.run_id, *(_cell(r.checks[c]) for c in CHECKS))
                      for r in report.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    lines = [f"peftc smoke: {report.spec} on stand-in models (not the real ones); scratch "
             f"{report.scratch}", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
              for line in table]
    failures = [(r, c, why) for r in report.rows for c, why in r.checks.items()
                if why not in (OK, SKIPPED, NOT_MERGEABLE)]
    if failures:
        lines += ["", "would fail:"]
        lines += [f"  {r.run_id}{f' [{r.stage}]' if r.stage != '-' else ''} {c}: {why}"
                  for r, c, why in failures]
    if report.stand_ins:
        lines += ["", "stand-ins:"]
    for base, stand_in in report.stand_ins.items():
        lines += [f"  {base}: built from {stand_in.made_from}",
                  f"    tokenizer: {stand_in.tokenizer}"]
    if report.notes:
        lines += ["", "smoke changed:"] + [f"  {note}" for note in sorted(report.notes)]
    bad = sum(r.failed for r in report.rows)
    lines += ["", f"{len(report.rows) - bad} stage(s) passed, {bad} would fail"]
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return value if value in (OK, SKIPPED, NOT_MERGEABLE) else "FAIL"


