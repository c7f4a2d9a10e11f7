"""Batch rules: gradient accumulation and the effective batch per optimizer step."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.derive import accumulation
from peftc.compiler.layers import Layer
from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, QUICKREF, blame, is_dpo, written

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

MAX_ACCUM = 64
SFT_LOW, SFT_HIGH = 16, 64  # the guide's SFT range
SFT_FLAG_LOW, SFT_FLAG_HIGH = 4, 1024
DPO_LOW, DPO_HIGH = 8, 32
DPO_FLAG_LOW, DPO_FLAG_HIGH = 4, 128


BATCH_KEYS = ("micro_batch_size", "gradient_accumulation_steps", "global_batch_size", "num_gpus")


def _batch_chosen(run: ResolvedRun) -> bool:
    """Whether anything but peftc's defaults shaped the batch (defaults give a batch of 1)."""
    return any(written(run, k) for k in BATCH_KEYS)


def _batch_formula(run: ResolvedRun) -> str:
    v = run.values
    return (f"{v['micro_batch_size']} micro x {v['gradient_accumulation_steps']} accum x "
            f"{v['num_gpus']} GPUs")


@rule("W150", "gradient-accumulation-too-high",
      summary="gradient_accumulation_steps above 64",
      rationale="Accumulation trades memory for time: each optimizer step waits for that many "
                "micro-batches. Past a few dozen, updates become rare, a fixed max_steps "
                "covers far more data than it seems, and logging, eval and warmup (all counted "
                "in optimizer steps) stretch accordingly. The guide suggests starting from an "
                "effective batch near 16 and avoiding very large accumulation without a "
                "reason. A global_batch_size meant for 8 GPUs resolved on fewer is the usual "
                "cause.",
      fix="raise micro_batch_size or num_gpus, or lower global_batch_size",
      reference=f"{GUIDE}, section 'gradient_accumulation_steps' (Impact and Symptoms: too "
                "high; Detailed Configuration step 3)",
      bad="num_gpus: 1\nmicro_batch_size: 1\nglobal_batch_size: 256",
      good="num_gpus: 1\nmicro_batch_size: 4\nglobal_batch_size: 32")
def accum_high(run: ResolvedRun) -> Iterator[Finding]:
    ga = run.values["gradient_accumulation_steps"]
    if ga > MAX_ACCUM:
        yield Finding(blame(run, "gradient_accumulation_steps", "global_batch_size"),
                      f"gradient_accumulation_steps {ga} (> {MAX_ACCUM}): one optimizer "
                      f"update per {ga} micro-batches ({_batch_formula(run)})")


@rule("W151", "sft-effective-batch", severity="info",
      summary="SFT effective batch far outside the usual 16-64 (below 4 or above 1024)",
      rationale="The quick reference recommends 16-64 sequences per optimizer step for SFT. "
                "Much smaller batches make gradients noisy (spiky loss, seed-to-seed "
                "variance); much larger ones give few updates per epoch and usually want a "
                "rescaled learning rate. Large effective batches are a deliberate choice in "
                "some recipes, so this is informational and fires only below 4 or above 1024, "
                "and only when the spec (or a profile) sets the batch.",
      fix="aim for micro_batch_size x gradient_accumulation_steps x num_gpus of 16-64",
      reference=f"{QUICKREF}, section 'Batch Sizes' (Recommendations); {GUIDE}, section "
                "'gradient_accumulation_steps' (Detailed Configuration step 2)",
      bad="micro_batch_size: 1\ngradient_accumulation_steps: 2",
      good="micro_batch_size: 2\ngradient_accumulation_steps: 8")
def sft_batch(run: ResolvedRun) -> Iterator[Finding]:
    if is_dpo(run) or not _batch_chosen(run):
        return
    eff = run.values["effective_global_batch_size"]
    if eff < SFT_FLAG_LOW or eff > SFT_FLAG_HIGH:
        yield Finding(blame(run, "gradient_accumulation_steps", "micro_batch_size",
                            "global_batch_size"),
                      f"effective batch {eff} ({_batch_formula(run)}) is outside the SFT "
                      f"range {SFT_LOW}-{SFT_HIGH} (flagged below {SFT_FLAG_LOW} or above "
                      f"{SFT_FLAG_HIGH})")


@rule("W152", "dpo-effective-batch", severity="info",
      summary="DPO effective batch far outside the usual 8-32 pairs (below 4 or above 128)",
      rationale="Each DPO example is a pair of sequences, and the quick reference recommends "
                "8-32 pairs per optimizer step. A handful of pairs gives a very noisy "
                "preference signal; hundreds give few updates for the small DPO datasets "
                "typical in practice. Informational; fires below 4 or above 128 when the spec "
                "sets the batch.",
      fix="aim for an effective batch of 8-32 on DPO stages",
      reference=f"{QUICKREF}, section 'Batch Sizes' (Recommendations: DPO); "
                "shared/seeds/001-qwen2.5-7b-training-details.md, section 'QLoRA "
                "Hyperparameters (DPO - Plan C)'",
      bad="rl: dpo\nmicro_batch_size: 1\ngradient_accumulation_steps: 2",
      good="rl: dpo\nmicro_batch_size: 2\ngradient_accumulation_steps: 8")
def dpo_batch(run: ResolvedRun) -> Iterator[Finding]:
    if not is_dpo(run) or not _batch_chosen(run):
        return
    eff = run.values["effective_global_batch_size"]
    if eff < DPO_FLAG_LOW or eff > DPO_FLAG_HIGH:
        yield Finding(blame(run, "gradient_accumulation_steps", "micro_batch_size",
                            "global_batch_size"),
                      f"effective batch {eff} pairs ({_batch_formula(run)}) is outside the "
                      f"DPO range {DPO_LOW}-{DPO_HIGH} (flagged below {DPO_FLAG_LOW} or "
                      f"above {DPO_FLAG_HIGH})")


AXOLOTL = "Axolotl's config validation (axolotl/utils/schemas/config.py: batch_size)"


@rule("E209", "batch-said-twice", severity="error",
      summary="batch keys that say the batch twice, differently, or cannot be met",
      rationale="The batch per optimizer step is micro_batch_size x "
                "gradient_accumulation_steps x num_gpus. batch_size (per device, Axolotl's) "
                "and global_batch_size (all devices) each decide gradient_accumulation_steps, "
                "so either one next to gradient_accumulation_steps (in the same layer), or "
                "both, says it twice; a batch_size below micro_batch_size cannot be met. "
                "Axolotl refuses batch_size with gradient_accumulation_steps too.",
      fix="set one of gradient_accumulation_steps, batch_size and global_batch_size "
          "(batch_size is micro_batch_size x gradient_accumulation_steps)",
      reference=AXOLOTL,
      bad="batch_size: 32\ngradient_accumulation_steps: 4",
      good="batch_size: 32\ngradient_accumulation_steps: null")
def batch_said_twice(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    per_device, target, mbs = v.get("batch_size"), v.get("global_batch_size"), \
        v["micro_batch_size"]
    given = run.layered("gradient_accumulation_steps")  # before a batch key decided it
    ga_layer = given[0].layer if given else Layer.DEFAULT
    if per_device is not None:
        if ga_layer is not Layer.DEFAULT:
            yield Finding("batch_size", "set only one of gradient_accumulation_steps and "
                          "batch_size (Axolotl refuses both too)")
        elif target is not None:
            yield Finding("batch_size", "set only one of batch_size (per device) and "
                          "global_batch_size (all devices)")
        elif per_device < mbs:
            yield Finding("batch_size", f"batch_size {per_device} is smaller than "
                          f"micro_batch_size {mbs}")
    if given and target is not None and ga_layer is not Layer.DEFAULT and \
            ga_layer is run.source("global_batch_size").layer:
        accum, formula = accumulation(target, mbs, v["num_gpus"])
        if given[1] != accum:
            yield Finding("gradient_accumulation_steps", f"gradient_accumulation_steps "
                          f"{given[1]} contradicts global_batch_size {target} = {formula} = "
                          f"{accum}", loc=given[0].loc)


@rule("W201", "global-batch-not-divisible",
      summary="global_batch_size is not a multiple of micro_batch_size x num_gpus",
      rationale="gradient_accumulation_steps is derived from global_batch_size as "
                "ceil(global / (micro x GPUs)); when the division is not exact the run trains "
                "with a larger batch than the spec says.",
      fix="pick a global_batch_size that micro_batch_size x num_gpus divides",
      reference=f"{QUICKREF}, section 'Batch Sizes'",
      bad="global_batch_size: 20\nmicro_batch_size: 8",
      good="global_batch_size: 16\nmicro_batch_size: 8")
def global_batch_not_divisible(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    target, eff = v.get("global_batch_size"), v.get("effective_global_batch_size")
    if target is not None and eff != target and \
            run.source("gradient_accumulation_steps").layer is Layer.DERIVED:
        yield Finding("global_batch_size", f"effective global batch {eff} differs from "
                      f"global_batch_size {target} (micro_batch_size {v['micro_batch_size']} "
                      f"x num_gpus {v['num_gpus']} does not divide it)")
