"""Preference-training (rl: dpo) rules: beta, adapter rank, and SFT-only features."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import (
    METHODS_DOC,
    QUICKREF,
    QWEN_DOC,
    blame,
    is_dpo,
    model_size_b,
    shared_top_level,
    uses_lora_r,
)
from peftc.rules.lora import RL_RANKS, rank_range, size_label

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

BETA_LOW, BETA_HIGH = 0.01, 1.0


@rule("W120", "dpo-beta-range",
      summary="DPO beta outside 0.01..1.0",
      rationale="Beta weighs the KL penalty that keeps the policy near the reference model. "
                "The quick reference's table runs from 0.01 (very aggressive, overfits) to 1.0 "
                "(very conservative), with 0.1 as the standard start. Below 0.01 the policy is "
                "free to drift and reward-hack the preference pairs; above 1.0 it can hardly "
                "move from the reference and the run teaches almost nothing.",
      fix="start at rl_beta: 0.1 (0.2-0.5 for safety alignment)",
      reference=f"{QUICKREF}, section 'DPO Specific' (Beta, Choosing Beta)",
      bad="rl: dpo\nrl_beta: 5.0",
      good="rl: dpo\nrl_beta: 0.1")
def beta_range(run: ResolvedRun) -> Iterator[Finding]:
    if not is_dpo(run):
        return
    beta = run.values["rl_beta"]
    if beta < BETA_LOW or beta > BETA_HIGH:
        side = "drifts freely from the reference" if beta < BETA_LOW else \
            "can barely move from the reference"
        yield Finding(blame(run, "rl_beta", "rl"),
                      f"rl_beta {num(beta)} is outside {num(BETA_LOW)}..{num(BETA_HIGH)}: the "
                      f"policy {side}")


@rule("W121", "dpo-rank-too-high",
      summary="a DPO (RL) stage with an SFT-sized LoRA rank for the model's size",
      rationale="Preference training carries far less information per token than SFT, so the "
                "quick reference's RL ranks are much lower: 4-16 for 7-8B models, 8-32 for "
                "13B, 16-64 for 70B. A DPO adapter with more than twice that rank adds "
                "memory and instability without absorbing more; the Qwen recipe lowers its "
                "rank from 64 to 32 for DPO for this reason. The size is read from the model "
                "id; ids without one are skipped.",
      fix="set lora_r on the DPO stage within the RL range (and lora_alpha to match)",
      reference=f"{QUICKREF}, section 'LoRA Configuration' / 'Rank by Model Size (RL)'; "
                f"{QWEN_DOC}, section 'QLoRA Hyperparameters (DPO - Plan C)'",
      bad="base_model: Qwen/Qwen2.5-7B-Instruct\nrl: dpo\nlora_r: 128",
      good="base_model: Qwen/Qwen2.5-7B-Instruct\nrl: dpo\nlora_r: 16")
def rl_rank(run: ResolvedRun) -> Iterator[Finding]:
    if not is_dpo(run) or not uses_lora_r(run):
        return
    size = model_size_b(run)
    if size is None or size < 1:
        return
    r = run.values["lora_r"]
    low, high = rank_range(size, RL_RANKS)
    if r > 2 * high:
        yield Finding(blame(run, "lora_r", "rl"),
                      f"lora_r {r} on a DPO run with a {size_label(size)} model; the guide's "
                      f"RL range for this size is {low}-{high} (flagged above {2 * high})")


@rule("W122", "dpo-neftune-ignored",
      summary="neftune_noise_alpha on a DPO run has no effect",
      rationale="NEFTune adds noise to input embeddings during supervised fine-tuning; peftc "
                "passes it to TRL's SFT trainer only. On a DPO stage the setting is dropped, so "
                "the spec promises a regulariser that is not applied.",
      fix="move neftune_noise_alpha to the SFT stage",
      reference=f"{METHODS_DOC}, section '10. NEFTune' (digest in shared/seeds/README.md)",
      bad="stages:\n  dpo:\n    rl: dpo\n    neftune_noise_alpha: 5",
      good="stages:\n  sft:\n    neftune_noise_alpha: 5\n  dpo:\n    rl: dpo")
def neftune_dpo(run: ResolvedRun) -> Iterator[Finding]:
    alpha = run.values.get("neftune_noise_alpha")
    if is_dpo(run) and alpha is not None and not shared_top_level(run, "neftune_noise_alpha"):
        yield Finding(blame(run, "neftune_noise_alpha"),
                      f"neftune_noise_alpha {num(alpha)} is ignored on a DPO run (SFT only)")


@rule("W123", "dpo-prompt-fills-sequence",
      summary="max_prompt_len leaves no room for the answers in sequence_len",
      rationale="DPO scores the chosen and rejected completions after the prompt, all within "
                "sequence_len tokens. When max_prompt_len is equal to or larger than "
                "sequence_len, long prompts push the completions out of the window and those "
                "pairs contribute no signal. The Qwen recipe keeps the prompt to half the "
                "window (2048 of 4096).",
      fix="keep max_prompt_len to about half of sequence_len",
      reference=f"{QWEN_DOC}, section 'QLoRA Hyperparameters (DPO - Plan C)' "
                "(max_length 4096, max_prompt_length 2048)",
      bad="rl: dpo\nsequence_len: 1024\nmax_prompt_len: 1024",
      good="rl: dpo\nsequence_len: 1024\nmax_prompt_len: 512")
def prompt_len(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    mpl = v.get("max_prompt_len")
    if is_dpo(run) and mpl is not None and mpl >= v["sequence_len"]:
        yield Finding(blame(run, "max_prompt_len"),
                      f"max_prompt_len {mpl} >= sequence_len {v['sequence_len']}: no tokens "
                      "left for the chosen/rejected answers")
