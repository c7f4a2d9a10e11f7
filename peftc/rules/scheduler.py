"""Learning-rate scheduler rules: lr_scheduler_kwargs against the scheduler's signature, floors,
and schedules that need something the run does not have.

The accepted arguments mirror the transformers scheduler functions behind
``get_scheduler`` (transformers/optimization.py) and torch's ReduceLROnPlateau; they are
written out here so lint never imports transformers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.diagnostics import num
from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, blame, written
from peftc.vocab.schedulers import SCHEDULERS, Scheduler

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

def _scheduler(run: ResolvedRun) -> Scheduler:
    return SCHEDULERS[run.values["lr_scheduler"]]


def _kwargs(run: ResolvedRun) -> dict:
    return dict(run.values.get("lr_scheduler_kwargs") or {})


def _user_kwargs(run: ResolvedRun) -> dict:
    """The kwargs the user wrote (not the min_lr_rate peftc derives from cosine_min_lr_ratio)."""
    return {k: x for k, x in _kwargs(run).items()
            if run.source(f"lr_scheduler_kwargs.{k}").layer is not Layer.DERIVED}


@rule("E701", "scheduler-kwargs-unknown", severity="error",
      summary="lr_scheduler_kwargs names an argument the chosen scheduler does not take",
      rationale="transformers passes lr_scheduler_kwargs straight into the scheduler function "
                "of lr_scheduler. An argument that function does not declare (num_cycles on "
                "linear, min_lr_rate on cosine, or num_warmup_steps, which the Trainer already "
                "passes) raises a TypeError when training starts, after the model has loaded.",
      fix="keep only the arguments the message lists for the scheduler, or pick the scheduler "
          "that takes them",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "step 4); transformers optimization.py get_scheduler",
      bad="lr_scheduler: cosine\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1",
      good="lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1")
def unknown_kwargs(run: ResolvedRun) -> Iterator[Finding]:
    name = run.values["lr_scheduler"]
    accepts = _scheduler(run).accepts
    if accepts is None:
        return
    for key in _user_kwargs(run):
        if key not in accepts:
            takes = ", ".join(sorted(accepts - {"last_epoch"})) or "no extra arguments"
            yield Finding(f"lr_scheduler_kwargs.{key}",
                          f"lr_scheduler '{name}' does not take '{key}' (takes: {takes}); "
                          "training would stop with a TypeError")


@rule("E702", "min-lr-both-given", severity="error",
      summary="cosine_with_min_lr given both min_lr and min_lr_rate",
      rationale="The min-LR cosine schedules accept the floor either as an absolute min_lr or "
                "as min_lr_rate (a share of the peak rate), and raise a ValueError when both "
                "are present.",
      fix="keep one of min_lr and min_lr_rate",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "step 4: Cosine with min LR)",
      bad="lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n  min_lr: 1.0e-6\n"
          "  min_lr_rate: 0.1",
      good="lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1")
def min_lr_both(run: ResolvedRun) -> Iterator[Finding]:
    kw = _kwargs(run)
    if _scheduler(run).min_lr and "min_lr" in kw and "min_lr_rate" in kw:
        yield Finding("lr_scheduler_kwargs.min_lr_rate",
                      f"lr_scheduler_kwargs sets both min_lr {num(kw['min_lr'])} and "
                      f"min_lr_rate {num(kw['min_lr_rate'])}; the scheduler accepts only one")


@rule("E703", "wsd-missing-decay-steps", severity="error",
      summary="warmup_stable_decay without num_decay_steps",
      rationale="The warmup-stable-decay schedule has no default length for its decay phase: "
                "num_decay_steps is a required argument and its absence is a TypeError at the "
                "start of training.",
      fix="set lr_scheduler_kwargs.num_decay_steps (the guide suggests 20-60% of the run)",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "step 4; Tuning Process step 4: WSD)",
      bad="lr_scheduler: warmup_stable_decay",
      good="lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n  num_decay_steps: 300\n"
           "  min_lr_ratio: 0.05")
def wsd_decay(run: ResolvedRun) -> Iterator[Finding]:
    for key in _scheduler(run).required:
        if key in _kwargs(run):
            continue
        steps = run.values.get("max_steps")
        hint = f" (e.g. {int(steps * 0.3)} of max_steps {steps})" if steps else ""
        yield Finding(blame(run, "lr_scheduler_kwargs", "lr_scheduler"),
                      f"lr_scheduler '{run.values['lr_scheduler']}' needs lr_scheduler_kwargs."
                      f"{key}{hint}")


def _bad_values(sched: Scheduler, kw: dict) -> Iterator[tuple[str, str]]:
    for key, values in sched.choices.items():
        if key in kw and kw[key] not in values:
            yield key, f"{key} {kw[key]!r} is not one of {', '.join(values)}"
    for key in (*sched.unit, *sched.below_one):
        value = kw.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key in sched.unit and not 0 <= value <= 1:
            yield key, f"{key} {num(value)} is not within 0..1"
        if key in sched.below_one and value >= 1:
            yield key, f"{key} {num(value)} must be below 1"


@rule("E704", "scheduler-kwarg-value", severity="error",
      summary="an lr_scheduler_kwargs value the scheduler rejects",
      rationale="Some scheduler arguments take a fixed set of values or a bounded range: the "
                "warmup-stable-decay shapes are linear, cosine or 1-sqrt; ratios of the peak "
                "rate lie in 0..1; ReduceLROnPlateau's factor must be below 1. Other values "
                "raise a ValueError when training starts (or, for a ratio above 1, make the "
                "floor higher than the peak).",
      fix="use one of the values named in the message",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "step 4)",
      bad="lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n  num_decay_steps: 100\n"
          "  decay_type: exponential",
      good="lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n  num_decay_steps: 100\n"
           "  decay_type: cosine")
def kwarg_values(run: ResolvedRun) -> Iterator[Finding]:
    name = run.values["lr_scheduler"]
    for key, message in _bad_values(_scheduler(run), _user_kwargs(run)):
        yield Finding(f"lr_scheduler_kwargs.{key}", f"lr_scheduler '{name}': {message}")


@rule("E705", "plateau-without-eval", severity="error",
      summary="reduce_lr_on_plateau without evaluation",
      rationale="ReduceLROnPlateau lowers the rate when an evaluation metric stops improving, "
                "so it needs evaluation to run at all; transformers refuses the configuration "
                "(eval_strategy 'no') with a ValueError. peftc enables evaluation when "
                "val_set_size or eval_steps is set.",
      fix="set val_set_size (and eval_steps), or choose another lr_scheduler",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Impact and Symptoms: "
                "reduce_lr_on_plateau misconfigured)",
      bad="lr_scheduler: reduce_lr_on_plateau\nval_set_size: 0",
      good="lr_scheduler: reduce_lr_on_plateau\nval_set_size: 0.05\neval_steps: 50")
def plateau_no_eval(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if _scheduler(run).evaluates and v.get("eval_strategy") == "no":
        yield Finding(blame(run, "lr_scheduler"),
                      "lr_scheduler 'reduce_lr_on_plateau' needs evaluation, but eval_strategy "
                      "is 'no' (val_set_size 0, no eval_steps)")


@rule("W160", "scheduler-kwargs-ignored",
      summary="lr_scheduler_kwargs given to a scheduler that drops them",
      rationale="constant and constant_with_warmup are built from the optimizer (and warmup) "
                "alone; transformers discards lr_scheduler_kwargs for them without a word, so "
                "a floor or cycle count written there does nothing.",
      fix="remove lr_scheduler_kwargs, or pick a scheduler that takes them",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "step 4)",
      bad="lr_scheduler: constant_with_warmup\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1",
      good="lr_scheduler: constant_with_warmup")
def kwargs_dropped(run: ResolvedRun) -> Iterator[Finding]:
    name = run.values["lr_scheduler"]
    if _scheduler(run).accepts is None:
        for key in _user_kwargs(run):
            yield Finding(f"lr_scheduler_kwargs.{key}",
                          f"lr_scheduler '{name}' ignores lr_scheduler_kwargs.{key}")


@rule("W161", "min-lr-without-floor",
      summary="cosine_with_min_lr with a floor of 0",
      rationale="The point of cosine_with_min_lr is a floor under the decay that keeps the "
                "adapter learning late in the run; with min_lr_rate 0 (peftc's "
                "cosine_min_lr_ratio default) it is plain cosine decay to zero. The guide "
                "suggests floors of 0.02-0.2 of the peak rate (0.1 as a start).",
      fix="set cosine_min_lr_ratio: 0.1 (or lr_scheduler_kwargs.min_lr_rate), or use "
          "lr_scheduler: cosine",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Simple Default; Tuning "
                "Process step 4)",
      bad="lr_scheduler: cosine_with_min_lr\ncosine_min_lr_ratio: 0.0",
      good="lr_scheduler: cosine_with_min_lr\ncosine_min_lr_ratio: 0.1")
def no_floor(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not _scheduler(run).min_lr:
        return
    kw = _kwargs(run)
    floor = kw.get("min_lr", kw.get("min_lr_rate"))
    if floor != 0:
        return
    key = "lr_scheduler_kwargs.min_lr" if "min_lr" in kw else "lr_scheduler_kwargs.min_lr_rate"
    if run.source(key).layer is Layer.DERIVED:
        key = "cosine_min_lr_ratio"
    # peftc's own defaults produce this pair; report only when the user chose one of them
    if not (written(run, key) or written(run, "lr_scheduler")):
        return
    yield Finding(blame(run, key, "lr_scheduler"),
                  f"lr_scheduler '{v['lr_scheduler']}' with a floor of 0 "
                  f"({key.rsplit('.', 1)[-1]} 0): this is cosine decay to zero")


@rule("W162", "warmup-ignored-by-scheduler",
      summary="warmup set for a scheduler that does not warm up",
      rationale="constant and reduce_lr_on_plateau are built without the warmup step count, so "
                "warmup_steps and warmup_ratio have no effect: the run starts at the full rate. "
                "constant_with_warmup is the constant schedule that honours warmup.",
      fix="use lr_scheduler: constant_with_warmup, or drop the warmup setting",
      reference=f"{GUIDE}, section 'lr_scheduler_type (SFTConfig)' (Detailed Configuration "
                "steps 2-3)",
      bad="lr_scheduler: constant\nwarmup_steps: 50",
      good="lr_scheduler: constant_with_warmup\nwarmup_steps: 50")
def warmup_ignored(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if _scheduler(run).warmup:
        return
    from_ratio = run.source("warmup_steps").layer is Layer.DERIVED and bool(v.get("warmup_ratio"))
    if v.get("warmup_steps") and not from_ratio:
        key, what = "warmup_steps", f"warmup_steps {v['warmup_steps']}"
    elif v.get("warmup_ratio") and (from_ratio or v.get("warmup_steps") is None):
        key, what = "warmup_ratio", f"warmup_ratio {num(v['warmup_ratio'])}"
    else:
        return
    yield Finding(blame(run, key, "lr_scheduler"),
                  f"lr_scheduler '{v['lr_scheduler']}' does not warm up: {what} has no effect")
