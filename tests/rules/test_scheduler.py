"""Scheduler rules (peftc/rules/scheduler.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_e701_unknown_kwarg(spec):
    d = check(spec, "E701", "lr_scheduler: cosine\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1\n",
              "lr_scheduler_kwargs.min_lr_rate", "'cosine'", "'min_lr_rate'", "takes: num_cycles")
    assert d.severity == "error"
    check(spec, "E701", "lr_scheduler: linear\nlr_scheduler_kwargs: {num_warmup_steps: 10}\n",
          "lr_scheduler_kwargs.num_warmup_steps", "'num_warmup_steps'", "no extra arguments")


def test_e701_clean(spec):
    for snippet in ("lr_scheduler: cosine_with_restarts\nlr_scheduler_kwargs: {num_cycles: 3}\n",
                    "lr_scheduler: polynomial\nlr_scheduler_kwargs: {power: 2.0, lr_end: 1.0e-7}\n",
                    "lr_scheduler: inverse_sqrt\nlr_scheduler_kwargs: {timescale: 100}\n",
                    "lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs: {min_lr: 1.0e-6}\n",
                    "lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n"
                    "  {num_decay_steps: 20, min_lr_ratio: 0.05, decay_type: linear}\n",
                    "lr_scheduler: reduce_lr_on_plateau\nlr_scheduler_kwargs:\n"
                    "  {factor: 0.5, patience: 2}\n",
                    # the floor peftc derives from cosine_min_lr_ratio is not the user's
                    "lr_scheduler: cosine_with_min_lr\ncosine_min_lr_ratio: 0.1\n"):
        clean(spec, "E701", snippet)


def test_e702_both_floors(spec):
    check(spec, "E702", "lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n"
                        "  min_lr: 1.0e-6\n  min_lr_rate: 0.1\n", "lr_scheduler_kwargs.min_lr_rate",
          "min_lr 1e-6", "min_lr_rate 0.1")


def test_e702_clean(spec):
    clean(spec, "E702", "lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n"
                        "  min_lr_rate: 0.1\n")


def test_e703_wsd_decay_steps(spec):
    check(spec, "E703", "lr_scheduler: warmup_stable_decay\n", "lr_scheduler",
          "num_decay_steps", "18 of max_steps 60")


def test_e703_clean(spec):
    clean(spec, "E703", "lr_scheduler: warmup_stable_decay\n"
                        "lr_scheduler_kwargs: {num_decay_steps: 20}\n")


def test_e704_bad_values(spec):
    check(spec, "E704", "lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n"
                        "  decay_type: exponential\n  num_decay_steps: 20\n",
          "lr_scheduler_kwargs.decay_type", "'exponential'", "linear, cosine, 1-sqrt")
    check(spec, "E704", "lr_scheduler: reduce_lr_on_plateau\nlr_scheduler_kwargs:\n"
                        "  factor: 2\n", "lr_scheduler_kwargs.factor", "factor 2")


def test_e704_clean(spec):
    clean(spec, "E704", "lr_scheduler: warmup_stable_decay\nlr_scheduler_kwargs:\n"
                        "  decay_type: 1-sqrt\n  num_decay_steps: 20\n")


def test_e705_plateau_without_eval(spec):
    check(spec, "E705", "val_set_size: 0\nlr_scheduler: reduce_lr_on_plateau\n",
          "lr_scheduler", "'reduce_lr_on_plateau'", "eval_strategy is 'no'")


def test_e705_clean(spec):
    clean(spec, "E705", "lr_scheduler: reduce_lr_on_plateau\neval_steps: 20\n")


def test_w160_kwargs_dropped(spec):
    check(spec, "W160", "lr_scheduler: constant_with_warmup\nlr_scheduler_kwargs:\n"
                        "  min_lr_rate: 0.1\n", "lr_scheduler_kwargs.min_lr_rate",
          "'constant_with_warmup'", "lr_scheduler_kwargs.min_lr_rate")


def test_w160_clean(spec):
    clean(spec, "W160", "lr_scheduler: constant_with_warmup\n")


def test_w161_no_floor(spec):
    check(spec, "W161", "lr_scheduler: cosine_with_min_lr\ncosine_min_lr_ratio: 0.0\n",
          "cosine_min_lr_ratio", "floor of 0", "cosine_min_lr_ratio 0")
    check(spec, "W161", "lr_scheduler: cosine_with_min_lr\nlr_scheduler_kwargs:\n"
                        "  min_lr_rate: 0.0\n", "lr_scheduler_kwargs.min_lr_rate", "min_lr_rate 0")


def test_w161_clean(spec):
    clean(spec, "W161", "lr_scheduler: cosine_with_min_lr\ncosine_min_lr_ratio: 0.1\n")
    # both from peftc's defaults: not the user's choice, not reported
    spec.write("seed: 1\n", base={"base_model": "peftc:tiny-llama", "profile": "none",
                                  "max_steps": 60, "warmup_steps": 10,
                                  "micro_batch_size": 16,
                                  "datasets": [{"path": "data/alpaca.jsonl"}]})
    assert "W161" not in spec.codes()


def test_w162_warmup_ignored(spec):
    check(spec, "W162", "lr_scheduler: constant\nwarmup_ratio: 0.1\n", "warmup_ratio",
          "'constant'", "warmup_ratio 0.1")
    check(spec, "W162", "lr_scheduler: reduce_lr_on_plateau\nwarmup_ratio: 0.0\n"
                        "warmup_steps: 20\neval_steps: 20\n", "warmup_steps",
          "warmup_steps 20")


def test_w162_clean(spec):
    clean(spec, "W162", "lr_scheduler: constant_with_warmup\nwarmup_ratio: 0.1\n")
    clean(spec, "W162", "lr_scheduler: constant\nwarmup_ratio: 0.0\n")
