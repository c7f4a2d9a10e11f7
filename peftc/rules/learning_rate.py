"""Learning-rate rules: the peak rate against the guide's ranges for the method and stage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, QUICKREF, blame, is_dpo, is_lora

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

# LoRA SFT: the guide's range is 1e-4..5e-4; flag only well outside it
SFT_LOW, SFT_HIGH = 1e-4, 5e-4
SFT_FLAG_LOW, SFT_FLAG_HIGH = 5e-5, 1e-3
FULL_FT_LOW, FULL_FT_HIGH = 1e-5, 5e-5
# LoRA DPO: 5e-6..5e-5
DPO_LOW, DPO_HIGH = 5e-6, 5e-5
DPO_FLAG_LOW, DPO_SFT_SIZED = 2e-6, 1e-4


@rule("W110", "lora-sft-learning-rate",
      summary="LoRA SFT learning rate outside the usual 1e-4..5e-4",
      rationale="LoRA trains a small low-rank subspace and needs a rate about ten times that "
                "of full fine-tuning: the guide's range for LoRA SFT is 1e-4 to 5e-4, with 2e-4 "
                "as the first try. A rate in the full-fine-tuning band (1e-5..5e-5) makes the "
                "adapter learn very slowly; one well above 5e-4 gives loss spikes and "
                "overcooked outputs. The rule is tolerant: it fires below 5e-5 or above 1e-3.",
      fix="start from learning_rate: 2.0e-4 and sweep 1e-4..5e-4",
      reference=f"{QUICKREF}, section 'Learning Rates' (Base Learning Rates); {GUIDE}, "
                "section 'learning_rate' (Simple Default, Tuning Process)",
      bad="adapter: lora\nlearning_rate: 2.0e-5",
      good="adapter: lora\nlearning_rate: 2.0e-4")
def lora_sft_lr(run: ResolvedRun) -> Iterator[Finding]:
    if not is_lora(run) or is_dpo(run):
        return
    lr = run.values["learning_rate"]
    if SFT_FLAG_LOW <= lr <= SFT_FLAG_HIGH:
        return
    if FULL_FT_LOW <= lr < SFT_FLAG_LOW:
        why = (f"a full-fine-tuning rate ({num(FULL_FT_LOW)}..{num(FULL_FT_HIGH)}); LoRA "
               "usually needs about 10x more")
    elif lr < SFT_FLAG_LOW:
        why = "far too low for the adapter to move"
    else:
        why = "high enough to make training unstable"
    yield Finding(blame(run, "learning_rate"),
                  f"learning_rate {num(lr)} is outside the LoRA SFT range "
                  f"{num(SFT_LOW)}..{num(SFT_HIGH)}: {why}")


@rule("W111", "dpo-sft-sized-learning-rate",
      summary="an SFT-sized learning rate on a DPO stage",
      rationale="Preference optimisation moves the policy against a reference and diverges "
                "easily: the quick reference puts LoRA DPO at 5e-6..5e-5, an order of magnitude "
                "below LoRA SFT. A DPO stage that inherits the SFT rate (or peftc's 2e-4 "
                "default) typically collapses the chosen/rejected margin or drifts far from the "
                "reference model within a few hundred steps.",
      fix="set learning_rate on the DPO stage, e.g. 5.0e-6 to 5.0e-5",
      reference=f"{QUICKREF}, section 'Learning Rates' (Base Learning Rates: DPO row); "
                "shared/seeds/001-qwen2.5-7b-training-details.md, section 'QLoRA "
                "Hyperparameters (DPO - Plan C)'",
      bad="stages:\n  dpo:\n    rl: dpo\n    learning_rate: 2.0e-4",
      good="stages:\n  dpo:\n    rl: dpo\n    learning_rate: 5.0e-6")
def dpo_sft_sized(run: ResolvedRun) -> Iterator[Finding]:
    if not is_dpo(run):
        return
    lr = run.values["learning_rate"]
    if lr >= DPO_SFT_SIZED:
        default = run.source("learning_rate").layer is Layer.DEFAULT
        where = " (peftc's default)" if default else ""
        yield Finding(blame(run, "learning_rate", "rl"),
                      f"learning_rate {num(lr)}{where} on a DPO run is SFT-sized; LoRA DPO "
                      f"uses {num(DPO_LOW)}..{num(DPO_HIGH)}")


@rule("W112", "dpo-learning-rate-too-low",
      summary="a DPO learning rate below the LoRA DPO range",
      rationale="The quick reference's 5e-7..5e-6 DPO band is for full fine-tuning; a LoRA "
                "adapter trained at such a rate barely moves and the preference margin stays "
                "near zero. LoRA DPO uses 5e-6..5e-5; the rule fires below 2e-6.",
      fix="raise learning_rate to 5.0e-6..5.0e-5 for a LoRA DPO run",
      reference=f"{QUICKREF}, section 'Learning Rates' (Base Learning Rates: DPO row)",
      bad="rl: dpo\nlearning_rate: 5.0e-7",
      good="rl: dpo\nlearning_rate: 5.0e-6")
def dpo_too_low(run: ResolvedRun) -> Iterator[Finding]:
    if not is_dpo(run) or not is_lora(run):
        return
    lr = run.values["learning_rate"]
    if lr < DPO_FLAG_LOW:
        yield Finding(blame(run, "learning_rate"),
                      f"learning_rate {num(lr)} is below the LoRA DPO range "
                      f"{num(DPO_LOW)}..{num(DPO_HIGH)} (a full-fine-tuning DPO rate)")
