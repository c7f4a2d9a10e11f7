"""LoRA shape rules: gain (alpha against rank), rsLoRA scaling, bias training, LoftQ, and rank
against model size and dataset size."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import (
    GUIDE,
    QUICKREF,
    blame,
    is_dpo,
    is_lora,
    method_of,
    model_size_b,
    train_rows,
    uses_lora_r,
    written,
)
from peftc.vocab.families import FAMILIES
from peftc.vocab.methods import INIT_LOFTQ, LOFTQ_DEFAULTS, Peft

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun


def _adalora(run: ResolvedRun) -> bool:
    return bool((m := method_of(run)) and m.peft is Peft.ADALORA)

GAIN_LOW, GAIN_HIGH = 0.5, 2.0  # alpha / r; the guide uses alpha = r or 2r
RS_GAIN_HIGH = 4.0  # alpha / sqrt(r); the guide's stable standard gains sit around 1-4


@rule("W101", "lora-alpha-rank-ratio",
      summary="lora_alpha / lora_r (the adapter's gain) is far from the usual 1 to 2",
      rationale="Standard LoRA scales its update by alpha / r. The guide keeps that gain fixed "
                "at 1 (alpha = r) or 2 (alpha = 2r) so that changing the rank does not also "
                "change how loudly the adapter speaks. A much larger gain makes early steps "
                "overshoot and overfit; a much smaller one leaves the adapter nearly silent, "
                "so training looks like it learns nothing. Ratios between 0.5 and 2 pass.",
      fix="set lora_alpha to lora_r or 2 * lora_r",
      reference=f"{GUIDE}, section 'lora_alpha' (Simple Default, Tuning Process); "
                f"section 'r (lora rank)' (Tuning Process: keep alpha/r constant)",
      bad="lora_r: 8\nlora_alpha: 128",
      good="lora_r: 8\nlora_alpha: 16")
def alpha_ratio(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not uses_lora_r(run) or v.get("peft_use_rslora"):
        return
    r, alpha = v["lora_r"], v["lora_alpha"]
    gain = alpha / r
    if gain < GAIN_LOW - 1e-9 or gain > GAIN_HIGH + 1e-9:
        yield Finding(blame(run, "lora_alpha", "lora_r"),
                      f"lora_alpha {num(alpha)} / lora_r {num(r)} = gain {gain:.3g}, outside "
                      f"{GAIN_LOW}..{num(GAIN_HIGH)}; the guide uses alpha = r or 2r "
                      f"(lora_alpha {num(r)} or {num(2 * r)})")


@rule("W102", "rslora-gain-too-high",
      summary="with use_rslora, lora_alpha / sqrt(lora_r) gives a gain well above the usual",
      rationale="rsLoRA divides alpha by sqrt(r) instead of r, so an alpha chosen for standard "
                "LoRA (alpha = 2r, say) becomes sqrt(r) times louder once rsLoRA is switched on. "
                "The guide warns that this carried-over alpha is the common mistake and shows "
                "up as early loss spikes, NaNs under mixed precision and over-steered outputs. "
                "It recommends matching the gain you trusted under standard scaling, usually "
                "between 1 and 4: alpha = gain * sqrt(r).",
      fix="lower lora_alpha to about 2 * sqrt(lora_r) (gain-matching), or turn rsLoRA off",
      reference=f"{GUIDE}, section 'use_rslora' (Impact and Symptoms, Simple Default); "
                f"section 'lora_alpha' (Tuning Process)",
      bad="adapter: rslora\nlora_r: 64\nlora_alpha: 128",
      good="adapter: rslora\nlora_r: 64\nlora_alpha: 16")
def rslora_gain(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not uses_lora_r(run) or not v.get("peft_use_rslora"):
        return
    r, alpha = v["lora_r"], v["lora_alpha"]
    gain = alpha / math.sqrt(r)
    if gain > RS_GAIN_HIGH + 1e-9:
        std = alpha / r
        yield Finding(blame(run, "lora_alpha", "peft_use_rslora", "adapter"),
                      f"rsLoRA gain lora_alpha {num(alpha)} / sqrt(lora_r {num(r)}) = "
                      f"{gain:.3g}, {gain / std:.3g}x the standard-scaling gain {std:.3g} "
                      f"(usual gains 1..{num(RS_GAIN_HIGH)}); lora_alpha "
                      f"~{round(2 * math.sqrt(r))} keeps a gain of 2")


@rule("W103", "lora-bias-trained",
      summary="lora_bias is not 'none': base-model biases train too",
      rationale="With lora_bias 'all' or 'lora_only' the biases of the base model itself are "
                "updated. Disabling or unloading the adapter then no longer gives back the "
                "original model, since those biases stay changed; and the guide reports little "
                "gain for the extra trainable parameters and more overfitting on small data.",
      fix="use lora_bias: none (only try lora_only when everything else is tuned and you never "
          "need the plain base model back)",
      reference=f"{GUIDE}, section 'bias' (Definition, Impact and Symptoms, Simple Default)",
      bad="lora_bias: all",
      good="lora_bias: none")
def bias(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if is_lora(run) and v.get("lora_bias", "none") != "none":
        yield Finding("lora_bias", f"lora_bias '{v['lora_bias']}' trains base-model biases: "
                      "disabling the adapter will not restore the base model")


@rule("W104", "loftq-config-ignored",
      summary="loftq_config is set but the adapter is not initialised with LoftQ",
      rationale="PEFT reads loftq_config only when init_lora_weights is 'loftq' (adapter: "
                "loftq or peft_init_lora_weights: loftq). Otherwise the block is dropped with "
                "no effect, and the run trains with a different initialisation than the spec "
                "suggests.",
      fix="use adapter: loftq (or peft_init_lora_weights: loftq), or delete loftq_config",
      reference=f"{GUIDE}, section 'loftq_config' (Definition; Impact and Symptoms, item 5)",
      bad="adapter: qlora\nloftq_config:\n  loftq_bits: 4",
      good="adapter: loftq\nloftq_config:\n  loftq_bits: 4")
def loftq_ignored(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("loftq_config") and written(run, "loftq_config") and (
            v.get("peft_init_lora_weights") != INIT_LOFTQ or _adalora(run)):
        init = v.get("peft_init_lora_weights")
        why = f"init_lora_weights is {init!r}" if not _adalora(run) else \
            "AdaLoRA does not take it"
        yield Finding("loftq_config", f"loftq_config is ignored: {why} (adapter "
                      f"'{v['adapter']}'), not 'loftq'")


@rule("W105", "loftq-without-quantization",
      summary="LoftQ initialisation on a base model that is not loaded quantized",
      rationale="LoftQ exists to offset quantization error: it replaces each adapted weight by "
                "its low-bit approximation and starts the adapter at the difference. When the "
                "model is trained in full or half precision and never quantized, this spends "
                "an expensive GPU-only initialisation to give the base weights quantization "
                "noise they would not otherwise have. The guide says to skip LoftQ unless the "
                "weights are quantized. (With load_in_4bit, peftc's runtime takes PEFT's route "
                "for quantized bases, replace_lora_weights_loftq, which reads the original "
                "weights from the model's safetensors file.)",
      fix="quantize the base (load_in_4bit or load_in_8bit) if that is the plan, or use "
          "adapter: lora",
      reference=f"{GUIDE}, section 'loftq_config' (Detailed Configuration, step 1)",
      bad="adapter: loftq",
      good="adapter: loftq\nload_in_4bit: true")
def loftq_unquantized(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if _adalora(run) or v.get("peft_init_lora_weights") != INIT_LOFTQ:
        return
    if not v.get("load_in_4bit") and not v.get("load_in_8bit"):
        bits = {**LOFTQ_DEFAULTS, **(v.get("loftq_config") or {})}["loftq_bits"]
        yield Finding(blame(run, "peft_init_lora_weights", "adapter"),
                      f"LoftQ ({bits}-bit) initialisation, but neither load_in_4bit nor "
                      "load_in_8bit is on: nothing is quantized for LoftQ to compensate")


@rule("W106", "loftq-few-targets",
      summary="LoftQ with target modules that leave some of the family's projections out",
      rationale="LoftQ can only correct layers that carry a LoRA adapter; every linear "
                "projection left untargeted keeps its full quantization error. The guide "
                "recommends adapting as many linear layers as possible (all-linear) when using "
                "LoftQ.",
      fix="target every projection: lora_target_linear: true, or list all of the family's "
          "projections",
      reference=f"{GUIDE}, section 'loftq_config' (Impact and Symptoms item 5; Detailed "
                "Configuration step 3)",
      bad="adapter: loftq\nload_in_4bit: true\nlora_target_modules: [q_proj, v_proj]",
      good="adapter: loftq\nload_in_4bit: true\nlora_target_linear: true")
def loftq_targets(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if _adalora(run) or v.get("peft_init_lora_weights") != INIT_LOFTQ:
        return
    targets = v.get("lora_target_modules")
    family = v.get("model_family")
    if not isinstance(targets, list) or family not in FAMILIES:
        return
    names = {str(t).rsplit(".", 1)[-1] for t in targets}
    expected = list(FAMILIES[family].targets)
    missing = [m for m in expected if m not in names]
    if missing:
        covered = len(expected) - len(missing)
        yield Finding("lora_target_modules",
                      f"LoftQ adapts {covered} of the {len(expected)} {family} projections; "
                      f"{', '.join(missing)} keep their quantization error uncorrected")


# Rank ranges from the quick reference, by model size in billions of parameters.
SFT_RANKS = [(4.5, 16, 32), (10, 32, 64), (20, 64, 128), (50, 128, 192), (math.inf, 128, 256)]
RL_RANKS = [(10, 4, 16), (40, 8, 32), (math.inf, 16, 64)]


def rank_range(size: float, table: list[tuple[float, int, int]]) -> tuple[int, int]:
    for upper, low, high in table:
        if size <= upper:
            return low, high
    return table[-1][1], table[-1][2]


def size_label(size: float) -> str:
    return f"{num(size)}B"


@rule("W107", "lora-rank-model-size",
      summary="LoRA rank far outside the guide's range for the model's size (SFT)",
      rationale="The quick reference ties SFT rank to model size: 16-32 for 1-3B models, 32-64 "
                "for 7-8B, 64-128 for 13B, 128-192 for 34B and 128-256 for 70B. A rank under "
                "half the low end starves the adapter of capacity (early plateau); more than "
                "twice the high end mostly adds memory, time and memorisation. The size is "
                "read from the model id (7b, 1.5B, 70B); ids without a size and mixture-of-"
                "experts ids are skipped.",
      fix="pick lora_r within the model size's range (and keep lora_alpha = r or 2r)",
      reference=f"{QUICKREF}, section 'LoRA Configuration' / 'Rank by Model Size (SFT)'; "
                f"{GUIDE}, section 'r (lora rank)'",
      bad="base_model: meta-llama/Llama-2-7b-hf\nlora_r: 512",
      good="base_model: meta-llama/Llama-2-7b-hf\nlora_r: 32")
def rank_model_size(run: ResolvedRun) -> Iterator[Finding]:
    if not uses_lora_r(run) or is_dpo(run):
        return
    size = model_size_b(run)
    if size is None or size < 1:
        return
    r = run.values["lora_r"]
    low, high = rank_range(size, SFT_RANKS)
    if r < low / 2 or r > 2 * high:
        yield Finding(blame(run, "lora_r", "base_model"),
                      f"lora_r {r} for a {size_label(size)} model; the guide's SFT range for "
                      f"this size is {low}-{high} (flagged below {num(low / 2)} or above "
                      f"{2 * high})")


DATA_RANKS = [(500, 4, 8), (2000, 8, 16), (10000, 16, 32), (50000, 32, 64), (200000, 64, 64),
              (math.inf, 64, 128)]


@rule("W108", "lora-rank-dataset-size",
      summary="LoRA rank far above what the (local) dataset size supports",
      rationale="The guide sizes rank by how much data there is to fill it: about 4-8 under 500 "
                "examples, 8-16 up to 2,000, 16-32 up to 10,000, 32-64 up to 50,000, 64 up to "
                "200,000. A rank more than twice the bucket's top has room to memorise the "
                "training phrasing rather than learn the task. Rows are counted only for local "
                ".jsonl datasets (after val_set_size is held out).",
      fix="lower lora_r to the bucket's range, or widen target modules instead of raising rank",
      reference=f"{GUIDE}, section 'r (lora rank)' (Detailed Configuration: dataset size -> "
                "ranks)",
      bad="datasets:\n  - path: data/200-rows.jsonl\nlora_r: 64",
      good="datasets:\n  - path: data/200-rows.jsonl\nlora_r: 8")
def rank_dataset_size(run: ResolvedRun) -> Iterator[Finding]:
    if not uses_lora_r(run):
        return
    rows = train_rows(run)
    if rows is None or rows == 0:
        return
    r = run.values["lora_r"]
    low, high = rank_range(rows, DATA_RANKS)
    if r > 2 * high:
        yield Finding(blame(run, "lora_r", "datasets"),
                      f"lora_r {r} for {rows} training rows; the guide suggests r {low}-{high} "
                      f"for this much data (flagged above {2 * high})")
