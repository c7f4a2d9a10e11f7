"""`summary.md`: the resolved sweep for people, in the layout of the seed's sweep summary.

Columns and cell formats are fixed (other tools and tests read them): `-` for not
applicable, `not set` for PEFT's default init, the batch formula as written, betas as
`0.9,0.95`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peftc.compiler.layers import Layer
from peftc.compiler.resolved import ResolvedRun
from peftc.vocab import catalog
from peftc.vocab.methods import METHODS, Peft

RUN_COLUMNS = [
    "base_model", "tokenizer_model", "peft_method", "train_profile", "max_seq_len", "max_steps",
    "per_device_bs", "grad_accum", "global_bs_target", "assumed_num_gpus", "effective_global_bs",
    "grad_accum_formula", "lr", "warmup_ratio", "min_lr_ratio", "weight_decay", "adam_betas",
    "optimizer", "lr_scheduler_type", "precision", "grad_clip", "grad_checkpointing",
]
PEFT_COLUMNS = [
    "base_model", "peft_method", "target_modules", "r", "lora_alpha", "lora_dropout",
    "init_lora_weights", "loraplus_lr_ratio", "loraplus_lr_embedding", "loraplus_lr_assignment",
    "adalora_init_r", "adalora_target_r", "adalora_total_step", "adalora_tinit",
    "adalora_tfinal", "adalora_deltaT",
]
PROFILE_COLUMNS = [
    "profile", "max_seq_len", "warmup_ratio", "min_lr_ratio", "weight_decay", "grad_clip",
    "bf16", "fp16", "adam_beta1", "adam_beta2", "global_train_batch_size", "lr_scheduler_type",
]


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(x) for x in value)
    return str(value)


def _table(columns: list[str], rows: Iterable[dict[str, Any]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        out.append("| " + " | ".join(cell(row.get(c)) for c in columns) + " |")
    return out


def _optimizer(v: dict[str, Any]) -> str:
    name = v["optimizer"]
    if v.get("loraplus_lr_ratio") is not None:
        return "AdamW (torch.optim) with LoRA+ param groups" if name.startswith(
            "adamw") else f"{name} with LoRA+ param groups"
    return "AdamW (transformers default)" if name == "adamw_torch_fused" else name


def run_row(run: ResolvedRun) -> dict[str, Any]:
    v = run.values
    ga_src = run.source("gradient_accumulation_steps")
    min_lr = v["lr_scheduler_kwargs"].get("min_lr_rate")
    return {
        "base_model": v["base_model"], "tokenizer_model": v["tokenizer_config"],
        "peft_method": v["adapter"], "train_profile": v["profile"],
        "max_seq_len": v["sequence_len"], "max_steps": v.get("max_steps"),
        "per_device_bs": v["micro_batch_size"], "grad_accum": v["gradient_accumulation_steps"],
        "global_bs_target": v.get("global_batch_size"), "assumed_num_gpus": v["num_gpus"],
        "effective_global_bs": v["effective_global_batch_size"],
        "grad_accum_formula": ga_src.label.removeprefix("derived: ")
        if ga_src.layer is Layer.DERIVED else None,
        "lr": v["learning_rate"], "warmup_ratio": v.get("warmup_ratio"), "min_lr_ratio": min_lr,
        "weight_decay": v["weight_decay"], "adam_betas": f"{v['adam_beta1']},{v['adam_beta2']}",
        "optimizer": _optimizer(v), "lr_scheduler_type": v["lr_scheduler"],
        "precision": "bf16" if v["bf16"] is True else "fp16" if v["fp16"] is True else
        "auto" if "auto" in (v["bf16"], v["fp16"]) else "fp32",
        "grad_clip": v["max_grad_norm"], "grad_checkpointing": v["gradient_checkpointing"],
    }


def peft_row(run: ResolvedRun) -> dict[str, Any]:
    v = run.values
    method = v["adapter"]
    lora_like = METHODS[method].lora_like
    init = v.get("peft_init_lora_weights")
    row: dict[str, Any] = {
        "base_model": v["base_model"], "peft_method": method,
        "target_modules": v.get("lora_target_modules") if lora_like else v.get(
            "ia3_target_modules"),
        "r": v["lora_r"] if lora_like else None,
        "lora_alpha": v["lora_alpha"] if lora_like else None,
        "lora_dropout": v["lora_dropout"] if lora_like else None,
        "init_lora_weights": ("not set" if init is None else init) if lora_like else None,
    }
    ratio = v.get("loraplus_lr_ratio")
    if ratio is not None:
        lr = v["learning_rate"]
        ratio = float(ratio)
        row.update({
            "loraplus_lr_ratio": ratio, "loraplus_lr_embedding": v.get("loraplus_lr_embedding"),
            "loraplus_lr_assignment": f"lora_A=lr({lr}), lora_B=lr*ratio({lr}*{ratio}), "
            "lora_embedding_A=lr, lora_embedding_B=lr*ratio, other=lr"})
    if METHODS[method].peft is Peft.ADALORA:
        row.update({"adalora_init_r": v["adalora_init_r"],
                    "adalora_target_r": v["adalora_target_r"],
                    "adalora_total_step": v.get("adalora_total_step"),
                    "adalora_tinit": v.get("adalora_tinit"),
                    "adalora_tfinal": v.get("adalora_tfinal"),
                    "adalora_deltaT": v.get("adalora_deltaT")})
    return row


def _profile_row(name: str, p: dict[str, Any]) -> dict[str, Any]:
    return {"profile": name, "max_seq_len": p.get("sequence_len"),
            "warmup_ratio": p.get("warmup_ratio"), "min_lr_ratio": p.get("cosine_min_lr_ratio"),
            "weight_decay": p.get("weight_decay"), "grad_clip": p.get("max_grad_norm"),
            "bf16": p.get("bf16"), "fp16": p.get("fp16"), "adam_beta1": p.get("adam_beta1"),
            "adam_beta2": p.get("adam_beta2"),
            "global_train_batch_size": p.get("global_batch_size"),
            "lr_scheduler_type": p.get("lr_scheduler")}


def _distinct(runs: list[ResolvedRun], key: str) -> list[Any]:
    return list(dict.fromkeys(cell(r.values.get(key)) for r in runs))


def render(title: str, runs: list[ResolvedRun], profiles: dict[str, dict[str, Any]]) -> str:
    gpus = _distinct(runs, "num_gpus")
    lines = [f"# Sweep configuration summary: {title}", "", f"{len(runs)} run(s).", "",
             "## Assumptions", f"- assumed_num_gpus: {', '.join(gpus)}",
             "- gradient_accumulation_steps formula:",
             "  - if global_batch_size is set: ceil(target / (micro_batch_size * num_gpus))",
             "  - otherwise: the spec's gradient_accumulation_steps",
             "- effective_global_batch_size formula: grad_accum * micro_batch_size * num_gpus",
             "", "## Train profiles"]
    lines += _table(PROFILE_COLUMNS, (_profile_row(n, p) for n, p in profiles.items()))
    lines += ["", "### Task -> profile (auto)",
              "- no task plugin: no profile (Axolotl's defaults apply)"]
    lines += [f"- {t} -> {catalog.auto_profile(t)}" for t in sorted(catalog.TASKS)]
    lines += ["", "## Task plugins", "| task | dataset_id | split | prompt_formatting |",
              "| --- | --- | --- | --- |"]
    for name, task in catalog.TASKS.items():
        ds = task["datasets"][0]
        lines.append(f"| {name} | {ds['path']} | {ds['split']} | {task['_formatting']} |")
    methods = _distinct(runs, "adapter")
    lines += ["", "## PEFT method specifics"]
    lines += [f"- {m}: {METHODS[m].note}" for m in methods]
    lines += ["", "## Resolved runs", f"- base_models: {', '.join(_distinct(runs, 'base_model'))}",
              f"- tasks: {', '.join(_distinct(runs, 'task'))}",
              f"- peft_methods: {', '.join(methods)}"]
    by_task: dict[str, list[ResolvedRun]] = {}
    for run in runs:
        by_task.setdefault(cell(run.values.get("task")), []).append(run)
    for task, group in by_task.items():
        first = group[0].values["datasets"]
        lines += ["", f"### Task: {task}",
                  f"- dataset_id: {', '.join(d['path'] for d in first) or '-'}",
                  f"- dataset_split: {', '.join(d['split'] for d in first) or '-'}"]
        stages = list(dict.fromkeys(r.stage for r in group))
        for stage in stages:
            members = [r for r in group if r.stage == stage]
            if stage is not None:
                lines += ["", f"#### Stage: {stage}"]
            lines += ["", *_table(RUN_COLUMNS, (run_row(r) for r in members)), ""]
            lines += _table(PEFT_COLUMNS, (peft_row(r) for r in members))
    lines += ["", "## Run ids", *(f"- {r.run_id}" for r in runs), ""]
    return "\n".join(lines)
