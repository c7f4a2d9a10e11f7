"""Warmup rules: too short to do anything, absent at a high rate, or eating the run."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, blame, warmup_steps

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

MIN_WARMUP = 10
HIGH_LR = 3e-4
MAX_SHARE = 0.3


def _warmup_key(run: ResolvedRun) -> str:
    if run.values.get("warmup_steps") is not None:
        return blame(run, "warmup_steps")
    return blame(run, "warmup_ratio", "max_steps")


def _how(run: ResolvedRun, steps: int) -> str:
    v = run.values
    from_ratio = run.source("warmup_steps").layer is Layer.DERIVED and bool(v.get("warmup_ratio"))
    if run.source("warmup_steps").layer is Layer.DERIVED and not from_ratio:
        return f"the default warmup (Axolotl's: 3% of max_steps {v['max_steps']}) = {steps} steps"
    if v.get("warmup_steps") is not None and not from_ratio:
        return f"warmup_steps {steps}"
    return f"warmup_ratio {num(v['warmup_ratio'])} x max_steps {v['max_steps']} = {steps} steps"


@rule("W140", "warmup-too-short",
      summary="fewer than 10 warmup steps (10% of runs under 100 steps)",
      rationale="Warmup ramps the rate from zero so the first, noisiest updates cannot throw "
                "the adapter somewhere bad. A ratio that is fine on a long run can round to a "
                "couple of steps on a short one, which is no ramp at all; the guide puts a "
                "floor of 10-25 steps under short runs. The rule needs max_steps to turn a "
                "warmup_ratio into steps. On runs under 100 steps the floor is 10% of the run "
                "instead, so that warmup does not eat the run (W142).",
      fix="use warmup_steps: 10 (or more) on short runs",
      reference=f"{GUIDE}, section 'warmup_steps' (Simple Default: guardrails)",
      bad="max_steps: 100\nwarmup_ratio: 0.03",
      good="max_steps: 100\nwarmup_steps: 10")
def too_short(run: ResolvedRun) -> Iterator[Finding]:
    steps = warmup_steps(run)
    total = run.values.get("max_steps")
    # on a run of a few dozen steps, 10 warmup steps would be most of it: ask for 10% there
    floor = min(MIN_WARMUP, math.ceil(0.1 * total)) if total else MIN_WARMUP
    if steps is not None and 0 < steps < floor:
        yield Finding(_warmup_key(run), f"{_how(run, steps)} of warmup; the guide's floor "
                      f"for short runs is {MIN_WARMUP}-25 steps")


@rule("W141", "no-warmup-high-lr",
      summary="no warmup at a high learning rate",
      rationale="Starting at full rate with no warmup is the pattern the guide names for "
                "blow-ups in the first hundred steps: the adapter is random, the early "
                "gradients are large, and a rate at the top of the LoRA range turns them into "
                "loss spikes or NaNs. The rule fires at learning_rate 3e-4 and above with zero "
                "warmup.",
      fix="add warmup_ratio: 0.03 (or warmup_steps: 10+ on short runs)",
      reference=f"{GUIDE}, section 'learning_rate' (Impact and Symptoms: mismatch with "
                "schedule); section 'warmup_steps' (Impact and Symptoms)",
      bad="learning_rate: 5.0e-4\nwarmup_ratio: 0.0",
      good="learning_rate: 5.0e-4\nwarmup_ratio: 0.03")
def no_warmup(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    lr = v["learning_rate"]
    if warmup_steps(run) == 0 and lr >= HIGH_LR:
        yield Finding(blame(run, "warmup_steps", "warmup_ratio", "learning_rate"),
                      f"no warmup with learning_rate {num(lr)} (>= {num(HIGH_LR)}): expect "
                      "early loss spikes")


@rule("W142", "warmup-too-long",
      summary="warmup takes 30% or more of the run",
      rationale="Every warmup step is a step below the chosen rate. When warmup covers a "
                "large share of a run, most of the budget is spent getting up to speed and "
                "the run underfits; the guide's ranges are 1-10% (3% typical).",
      fix="shorten warmup to 3-10% of max_steps",
      reference=f"{GUIDE}, section 'warmup_steps' (Impact and Symptoms: too high; Tuning "
                "Process)",
      bad="max_steps: 100\nwarmup_steps: 50",
      good="max_steps: 100\nwarmup_steps: 10")
def too_long(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    steps = warmup_steps(run)
    total = v.get("max_steps")
    if steps is None or not total:
        return
    share = steps / total
    if share >= MAX_SHARE:
        yield Finding(_warmup_key(run), f"{_how(run, steps)} of warmup is {share:.0%} of "
                      f"max_steps {total}")


@rule("W203", "warmup-steps-and-ratio",
      summary="warmup_steps and warmup_ratio both set: warmup_steps wins",
      rationale="transformers takes warmup_steps when it is set and ignores the ratio (as "
                "Axolotl does), so the ratio in the spec says nothing about the run.",
      fix="keep one of warmup_steps and warmup_ratio",
      reference="transformers' TrainingArguments (warmup_steps, warmup_ratio)",
      bad="warmup_steps: 10\nwarmup_ratio: 0.1",
      good="warmup_steps: 10\nwarmup_ratio: null")
def warmup_steps_and_ratio(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("warmup_steps") is not None and v.get("warmup_ratio") and \
            run.source("warmup_ratio").layer is not Layer.DEFAULT and \
            run.source("warmup_steps").layer is not Layer.DERIVED:
        yield Finding("warmup_ratio", f"warmup_steps {v['warmup_steps']} and warmup_ratio "
                      f"{v['warmup_ratio']} are both set; warmup_steps wins")


@rule("W214", "warmup-one-step",
      summary="warmup_steps 1 is 2 in Axolotl",
      rationale="Axolotl's trainer builder turns a warmup of one step into two. peftc does the "
                "same, so that a config trains as in Axolotl, and says so: the spec's number "
                "is not the run's.",
      fix="write warmup_steps: 2, or 0 for no warmup",
      reference="Axolotl's trainer builder (axolotl/core/builders/base.py: "
                "_configure_warmup_and_logging)",
      bad="warmup_steps: 1\nwarmup_ratio: null",
      good="warmup_steps: 2\nwarmup_ratio: null")
def warmup_one_step(run: ResolvedRun) -> Iterator[Finding]:
    given = run.layered("warmup_steps")
    if given and given[1] == 1 and run.values.get("warmup_steps") != 1:
        yield Finding("warmup_steps", "warmup_steps 1 is 2 in Axolotl (its trainer builder "
                      "turns 1 into 2); peftc does the same", loc=given[0].loc)
