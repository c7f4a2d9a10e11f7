"""The run's setup: how long it trains, in what precision, sharded how, reported where.
Settings here that contradict each other are errors (the run would fail or train otherwise)
or warnings (one setting silently wins, as in Axolotl)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.rules import Finding, rule

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

AXOLOTL = "Axolotl's config validation (axolotl/utils/schemas/config.py), as peftc takes it"
HF_ARGS = "transformers' TrainingArguments (bf16, fp16, max_steps, num_train_epochs)"


@rule("W202", "max-steps-and-epochs",
      summary="max_steps and num_epochs both set: max_steps wins",
      rationale="transformers trains for max_steps whenever it is set and ignores "
                "num_train_epochs, so the epochs written in the spec say nothing about the "
                "run. A reader (or a sweep over num_epochs) is misled.",
      fix="keep max_steps, or remove it to train for num_epochs",
      reference=HF_ARGS,
      bad="max_steps: 60\nnum_epochs: 3",
      good="max_steps: 60")
def max_steps_and_epochs(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("max_steps") is not None and run.source("num_epochs").layer is not Layer.DEFAULT:
        yield Finding("num_epochs", f"max_steps {v['max_steps']} and num_epochs "
                      f"{v['num_epochs']} are both set; max_steps wins")


@rule("E202", "two-precisions", severity="error",
      summary="bf16 and fp16 both on",
      rationale="Mixed precision runs in one half-precision type; transformers refuses "
                "bf16 and fp16 together.",
      fix="keep one of bf16 and fp16 (bf16: auto picks for the machine)",
      reference=HF_ARGS,
      bad="bf16: true\nfp16: true",
      good="bf16: true")
def two_precisions(run: ResolvedRun) -> Iterator[Finding]:
    if run.values.get("bf16") is True and run.values.get("fp16") is True:
        yield Finding("fp16", "bf16 and fp16 are both on; pick one precision")


@rule("E404", "fsdp-and-deepspeed", severity="error",
      summary="FSDP and DeepSpeed both asked for",
      rationale="FSDP and DeepSpeed ZeRO each shard the model across processes; accelerate "
                "launches one or the other. Axolotl refuses both too.",
      fix="keep one: remove the fsdp keys, or deepspeed",
      reference=AXOLOTL,
      bad="num_gpus: 2\nfsdp: [full_shard, auto_wrap]\ndeepspeed: zero2",
      good="num_gpus: 2\ndeepspeed: zero2")
def fsdp_and_deepspeed(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    fsdp = next((k for k in ("fsdp", "fsdp_config", "fsdp_version") if v.get(k)), None)
    if fsdp and v.get("deepspeed"):
        yield Finding(fsdp, f"{fsdp} and deepspeed both shard the model; keep one (Axolotl "
                      "refuses both too)")


@rule("W210", "wandb-project-despite-use-wandb",
      summary="wandb_project reports to W&B although use_wandb is false (as in Axolotl)",
      rationale="Axolotl turns W&B on whenever wandb_project is set, whatever use_wandb "
                "says; peftc reads the keys as Axolotl does, so the run reports. A spec that "
                "says use_wandb: false most likely meant not to.",
      fix="remove wandb_project to not report, or use_wandb to say that you do",
      reference="Axolotl's setup_wandb_env_vars (axolotl/utils/wandb_.py)",
      bad="wandb_project: demo\nuse_wandb: false",
      good="wandb_project: demo")
def wandb_project_despite_use_wandb(run: ResolvedRun) -> Iterator[Finding]:
    if run.values.get("wandb_project") and run.values.get("use_wandb") is False:
        yield Finding("use_wandb", "wandb_project reports to W&B although use_wandb is false, "
                      "as in Axolotl")


@rule("E216", "when-to-evaluate-or-save-twice", severity="error",
      summary="two settings say when to evaluate or save, differently",
      rationale="evals_per_epoch and eval_steps (saves_per_epoch and save_steps) both say "
                "when; eval_steps or save_steps means a schedule in steps, which an "
                "eval_strategy or save_strategy of another kind contradicts; and an "
                "eval_strategy without evaluation data (val_set_size 0) has nothing to "
                "evaluate. Axolotl refuses these too.",
      fix="keep one of the keys that say when; without val_set_size, remove eval_strategy",
      reference=AXOLOTL,
      bad="saves_per_epoch: 2\nsave_steps: 100",
      good="saves_per_epoch: 2")
def when_twice(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    for key, target in (("saves_per_epoch", "save_steps"), ("evals_per_epoch", "eval_steps")):
        if v.get(key) is not None and v.get(target) is not None and (
                key == "saves_per_epoch" or v.get("val_set_size")) and \
                run.source(target).layer is not Layer.DERIVED:
            yield Finding(key, f"{key} and {target} both say when; keep one (Axolotl refuses "
                          "both too)")
    for kind in ("eval", "save"):  # the strategy as written, before a *_steps key set it
        given = run.layered(f"{kind}_strategy")
        if given and v.get(f"{kind}_steps") and given[1] not in (None, "steps"):
            yield Finding(f"{kind}_strategy", f"{kind}_steps says steps but {kind}_strategy says "
                          f"'{given[1]}'; keep one (Axolotl refuses both too)", loc=given[0].loc)
    given = run.layered("eval_strategy")
    if given and not v.get("val_set_size") and given[1] not in (None, "no"):
        yield Finding("eval_strategy", f"eval_strategy '{given[1]}' has nothing to evaluate: "
                      "val_set_size is 0", loc=given[0].loc)
