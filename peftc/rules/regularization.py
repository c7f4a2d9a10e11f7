"""Regularisation rules: weight decay, LoRA dropout, gradient clipping and NEFTune noise far
outside the guides' usual values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, METHODS_DOC, QUICKREF, blame, is_dpo, is_lora, written

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

MAX_WEIGHT_DECAY = 0.1
MAX_DROPOUT = 0.3
MAX_NEFTUNE = 15


@rule("W190", "weight-decay-high",
      summary="weight_decay above 0.1",
      rationale="Weight decay pulls the trainable weights toward zero every step, with a "
                "strength of roughly learning_rate x weight_decay. For an adapter, zero means "
                "'no change to the base model', so heavy decay mutes the adapter: both train "
                "and eval loss stay poor and outputs look like the base model. The guide's "
                "sweep tops out at 0.1 (0.01 as the default, often 0 for LoRA).",
      fix="use weight_decay 0.0-0.01, up to 0.1 for small data that overfits",
      reference=f"{GUIDE}, section 'weight_decay' (Parameter Name: Impact and Symptoms, "
                f"Simple Default, Tuning Process); {QUICKREF}, section 'Optimizer Settings'",
      bad="weight_decay: 0.5",
      good="weight_decay: 0.01")
def weight_decay(run: ResolvedRun) -> Iterator[Finding]:
    wd = run.values.get("weight_decay") or 0.0
    if wd > MAX_WEIGHT_DECAY:
        yield Finding(blame(run, "weight_decay"),
                      f"weight_decay {num(wd)} (> {num(MAX_WEIGHT_DECAY)}) pulls the adapter "
                      f"toward zero at lr x wd = {num(run.values['learning_rate'] * wd)} "
                      "per step")


@rule("W191", "lora-dropout-high",
      summary="lora_dropout above 0.3",
      rationale="LoRA dropout switches off part of the adapter's input on each step to curb "
                "overfitting. The guide works in notches of 0.0, 0.03, 0.05 and 0.1; far above "
                "them most of the adapter's signal is dropped each step and the run "
                "underfits (slow, flat loss; base-model-like outputs).",
      fix="use lora_dropout 0.05 (0.1 if overfitting, 0.0-0.03 if underfitting)",
      reference=f"{GUIDE}, section 'lora_dropout' (Simple Default, Detailed Configuration)",
      bad="lora_dropout: 0.5",
      good="lora_dropout: 0.05")
def dropout(run: ResolvedRun) -> Iterator[Finding]:
    p = run.values.get("lora_dropout") or 0.0
    if is_lora(run) and p > MAX_DROPOUT:
        yield Finding(blame(run, "lora_dropout"),
                      f"lora_dropout {num(p)} (> {num(MAX_DROPOUT)}); the guide's notches are "
                      "0.0, 0.03, 0.05, 0.1")


@rule("W192", "no-gradient-clipping",
      summary="gradient clipping disabled (max_grad_norm 0)",
      rationale="Clipping the gradient norm at 1.0 is the guides' standard stabiliser: it stops "
                "one bad batch from throwing the adapter off, and makes the learning rate "
                "easier to choose. With max_grad_norm 0 every spike goes through in full.",
      fix="set max_grad_norm: 1.0",
      reference=f"{GUIDE}, section 'learning_rate' (Detailed Configuration step 5); "
                f"{QUICKREF}, section 'Optimizer Settings' (For Stability)",
      bad="max_grad_norm: 0",
      good="max_grad_norm: 1.0")
def no_clipping(run: ResolvedRun) -> Iterator[Finding]:
    if run.values.get("max_grad_norm") == 0 and written(run, "max_grad_norm"):
        yield Finding("max_grad_norm", "max_grad_norm 0 disables gradient clipping")


@rule("W193", "neftune-noise-high",
      summary="neftune_noise_alpha above 15",
      rationale="NEFTune adds uniform noise of scale alpha / sqrt(L * d) to the input "
                "embeddings during SFT. The method's reference values are 5, 10 and 15 "
                "(5 in the Axolotl templates); much stronger noise drowns the token "
                "embeddings and the model learns from corrupted inputs.",
      fix="use neftune_noise_alpha: 5 (at most 15)",
      reference=f"{METHODS_DOC}, section '10. NEFTune' (noise scale alpha, e.g. 5, 10, 15)",
      bad="neftune_noise_alpha: 50",
      good="neftune_noise_alpha: 5")
def neftune_high(run: ResolvedRun) -> Iterator[Finding]:
    alpha = run.values.get("neftune_noise_alpha")
    if alpha is not None and alpha > MAX_NEFTUNE and not is_dpo(run):
        yield Finding(blame(run, "neftune_noise_alpha"),
                      f"neftune_noise_alpha {num(alpha)} (> {MAX_NEFTUNE}) drowns the input "
                      "embeddings in noise")
