"""Settings that contradict the rest of the run: keys for another adapter or trainer, and
evaluation settings the data cannot serve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.derive import best_checkpoint_key, saves_written
from peftc.compiler.layers import Layer
from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import (
    GUIDE,
    METHODS_DOC,
    dataset_rows,
    is_dpo,
    shared_top_level,
    written,
)
from peftc.vocab.methods import Peft, names

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

_LORA_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "lora_bias", "lora_target_modules",
              "lora_target_linear", "peft_use_dora", "peft_use_rslora",
              "peft_init_lora_weights")
_ADALORA_KEYS = ("adalora_init_r", "adalora_target_r", "adalora_total_step", "adalora_tinit",
                 "adalora_tfinal", "adalora_deltaT")

# key -> adapters that read it
_LORA = names(lambda m: m.lora)
READ_BY: dict[str, frozenset[str]] = {
    **{k: names(lambda m: m.peft is Peft.ADALORA) for k in _ADALORA_KEYS},
    **{k: names(lambda m: m.lora_like) for k in _LORA_KEYS},
    "lora_r": _LORA,  # AdaLoRA uses adalora_init_r / adalora_target_r
    "peft_use_dora": _LORA,
    "peft_init_lora_weights": _LORA,
    "pissa_init_mode": names(lambda m: m.init_from == "pissa_init_mode"),
    "loraplus_lr_embedding": _LORA,
    "ia3_target_modules": names(lambda m: m.peft is Peft.IA3),
    "ia3_feedforward_modules": names(lambda m: m.peft is Peft.IA3),
    "num_virtual_tokens": names(lambda m: m.prompt_learning),
    "prompt_tuning_init_text": names(lambda m: m.peft is Peft.PROMPT_TUNING),
    "prefix_projection": names(lambda m: m.peft is Peft.PREFIX_TUNING),
    "encoder_hidden_size": names(lambda m: m.peft is Peft.P_TUNING),
}
_DPO_KEYS = ("rl_beta", "dpo_loss_type", "max_prompt_len")


@rule("W170", "adapter-key-ignored",
      summary="a setting of another adapter method is ignored",
      rationale="Each PEFT method reads its own settings: AdaLoRA its rank budget, prompt and "
                "prefix tuning their virtual tokens, IA3 its module lists, the LoRA family "
                "rank, alpha and initialisation. A key written for a method the run does not "
                "use is silently dropped, which usually means the spec is not training what "
                "its author thinks (a stale key after switching adapter, or a typo'd adapter). "
                "Keys shared by a sweep over adapters are not reported.",
      fix="remove the key, or switch adapter to the method it belongs to",
      reference=f"{METHODS_DOC} (digest in shared/seeds/README.md: the method list and their "
                "Axolotl keys)",
      bad="adapter: lora\nadalora_init_r: 12\nnum_virtual_tokens: 20",
      good="adapter: adalora\nadalora_init_r: 12")
def adapter_keys(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    method = v.get("adapter")
    if run.source("adapter").layer is Layer.SWEEP:
        return
    for key, readers in READ_BY.items():
        if method in readers or v.get(key) is None or not written(run, key):
            continue
        if shared_top_level(run, key) or run.source(key).layer is Layer.SWEEP:
            continue
        if key == "loraplus_lr_embedding" and v.get("loraplus_lr_ratio") is None:
            yield Finding(key, "loraplus_lr_embedding is ignored without loraplus_lr_ratio "
                          "(adapter: loraplus)")
            continue
        users = ", ".join(sorted(readers)) if len(readers) < 4 else (
            "LoRA-family adapters")
        yield Finding(key, f"{key} is ignored with adapter '{method}' (read by {users})")
    if method in _LORA and v.get("loraplus_lr_embedding") is not None and \
            v.get("loraplus_lr_ratio") is None and written(run, "loraplus_lr_embedding"):
        yield Finding("loraplus_lr_embedding", "loraplus_lr_embedding is ignored without "
                      "loraplus_lr_ratio (adapter: loraplus)")


@rule("W171", "dpo-key-on-sft",
      summary="a DPO setting on a run that is not DPO",
      rationale="rl_beta, dpo_loss_type and max_prompt_len configure TRL's DPO trainer; "
                "without rl: dpo the run is plain SFT and these keys do nothing. In a "
                "pipeline, put them on the DPO stage; keys at the top level of a staged spec "
                "are shared by all stages and not reported.",
      fix="add rl: dpo, or move the key to the DPO stage",
      reference="shared/seeds/002-hyperparameter-quick-reference.md, section 'DPO Specific'",
      bad="rl_beta: 0.1",
      good="rl: dpo\nrl_beta: 0.1")
def dpo_keys(run: ResolvedRun) -> Iterator[Finding]:
    if is_dpo(run):
        return
    for key in _DPO_KEYS:
        if run.values.get(key) is not None and written(run, key) and \
                not shared_top_level(run, key) and run.source(key).layer is not Layer.SWEEP:
            yield Finding(key, f"{key} is ignored: this run is SFT (no rl: dpo)")


@rule("E706", "eval-without-data", severity="error",
      summary="eval_steps is set but val_set_size is 0",
      rationale="eval_steps turns evaluation on (eval_strategy 'steps'), but with val_set_size "
                "0 there is no held-out data to evaluate; the run stops before training with "
                "an error.",
      fix="set val_set_size (a share below 1 or a row count), or remove eval_steps",
      reference="shared/seeds/002-hyperparameter-quick-reference.md, section 'Training "
                "Duration' (Eval Frequency)",
      bad="eval_steps: 50\nval_set_size: 0",
      good="eval_steps: 50\nval_set_size: 0.05")
def eval_no_data(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("eval_steps") and not v.get("val_set_size"):
        yield Finding("eval_steps", f"eval_steps {v['eval_steps']} but val_set_size is 0: "
                      "there is no evaluation data")


@rule("E707", "val-set-too-large", severity="error",
      summary="val_set_size leaves no training rows (local datasets)",
      rationale="A val_set_size of 1 or more is a row count. When it reaches the number of rows "
                "in the datasets, the split fails (or leaves nothing to train on). Checked only "
                "when every dataset is a local .jsonl file, whose rows lint counts.",
      fix="use a share (e.g. 0.05) or a row count below the dataset size",
      reference=f"{GUIDE}, section 'warmup_steps' (Detailed Configuration step 2: steps from "
                "examples)",
      bad="datasets:\n  - path: data/200-rows.jsonl\nval_set_size: 200",
      good="datasets:\n  - path: data/200-rows.jsonl\nval_set_size: 20")
def val_too_large(run: ResolvedRun) -> Iterator[Finding]:
    val = run.values.get("val_set_size") or 0
    if val < 1:
        return
    rows = dataset_rows(run)
    if rows is not None and val >= rows:
        yield Finding("val_set_size", f"val_set_size {num(val)} rows >= the {rows} rows of "
                      "the datasets: nothing left to train on")


@rule("E219", "best-checkpoint-without-evaluations", severity="error",
      summary="early stopping or the best checkpoint without evaluations, or with saves that "
              "miss them",
      rationale="early_stopping_patience, load_best_model_at_end and save_strategy: best "
                "compare evaluation results; a run without evaluation data has none. Keeping "
                "the best checkpoint also needs a save at that evaluation: transformers "
                "refuses load_best_model_at_end at run time unless saves fall on evaluations. "
                "peftc saves at each evaluation when no save key is written; written ones must "
                "agree.",
      fix="set val_set_size (e.g. 0.05), and save at evaluations (save_steps a multiple of "
          "eval_steps) or remove the save keys",
      reference="transformers' TrainingArguments (load_best_model_at_end) and "
                "EarlyStoppingCallback",
      bad="val_set_size: 0\nearly_stopping_patience: 3",
      good="val_set_size: 0.1\neval_steps: 10\nearly_stopping_patience: 3")
def best_checkpoint_without_evaluations(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    key = best_checkpoint_key(v)
    if key is None:
        return
    if v["eval_strategy"] == "no":
        yield Finding(key, f"{key} compares evaluations, and this run has none (val_set_size "
                      "is 0)")
        return
    saves = saves_written(run)
    if not v.get("load_best_model_at_end") or v["save_strategy"] == "best" or not saves:
        return
    eval_steps, save_steps = v.get("eval_steps"), v.get("save_steps")
    ratio = save_steps / eval_steps if eval_steps and save_steps else 1.0
    if v["save_strategy"] != v["eval_strategy"] or abs(ratio - round(ratio)) > 1e-9:
        said = f"save_steps {num(save_steps)}" if save_steps else \
            f"save_strategy '{v['save_strategy']}'"
        evals = f"eval_steps {num(eval_steps)}" if eval_steps else \
            f"eval_strategy '{v['eval_strategy']}'"
        yield Finding(saves[0], f"{key} keeps the best evaluation's checkpoint, but {said} "
                      f"does not fall on {evals}")
