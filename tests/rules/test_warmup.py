"""Warmup rules (peftc/rules/warmup.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w140_short_warmup_from_ratio(spec):
    check(spec, "W140", "max_steps: 100\nwarmup_ratio: 0.03\n", "warmup_ratio",
          "warmup_ratio 0.03 x max_steps 100 = 3 steps")


def test_w140_short_warmup_steps(spec):
    check(spec, "W140", "warmup_ratio: 0.0\nwarmup_steps: 4\n", "warmup_steps",
          "warmup_steps 4")


def test_w140_clean(spec):
    clean(spec, "W140", "max_steps: 100\nwarmup_steps: 10\nwarmup_ratio: 0.0\n")
    clean(spec, "W140", "max_steps: 1000\nwarmup_ratio: 0.03\n")  # 30 steps
    clean(spec, "W140", "warmup_ratio: 0.0\n")  # no warmup at all: W141's business
    # a 20-step demo run: 2 steps is 10% of it
    clean(spec, "W140", "max_steps: 20\nwarmup_ratio: 0.0\nwarmup_steps: 2\n")
    check(spec, "W140", "max_steps: 40\nwarmup_ratio: 0.0\nwarmup_steps: 2\n",
          "warmup_steps", "warmup_steps 2")


def test_w141_no_warmup_high_lr(spec):
    check(spec, "W141", "learning_rate: 5.0e-4\nwarmup_ratio: 0.0\n", "warmup_ratio",
          "learning_rate 5e-4", ">= 3e-4")
    # warmup left unset: Axolotl's default, 3% of 60 steps = 1 step, too short, at max_steps
    base = {"base_model": "peftc:tiny-llama", "profile": "none", "max_steps": 60,
            "datasets": [{"path": "data/alpaca.jsonl"}]}
    spec.write("learning_rate: 8.0e-4\n", base=base)
    assert not [d for d in spec.lint() if d.code == "W141"]
    d = spec.only("W140")
    assert "default warmup (Axolotl's: 3% of max_steps 60) = 2 steps" in d.message
    assert (d.line, d.col) == spec.value_pos("max_steps")


def test_w141_clean(spec):
    clean(spec, "W141", "learning_rate: 2.0e-4\nwarmup_ratio: 0.0\n")
    clean(spec, "W141", "learning_rate: 5.0e-4\nwarmup_ratio: 0.03\nmax_steps: 1000\n")


def test_w142_long_warmup(spec):
    check(spec, "W142", "max_steps: 100\nwarmup_ratio: 0.0\nwarmup_steps: 50\n",
          "warmup_steps", "warmup_steps 50", "50%", "max_steps 100")
    check(spec, "W142", "max_steps: 100\nwarmup_ratio: 0.4\n", "warmup_ratio", "40 steps",
          "40%")


def test_w142_clean(spec):
    clean(spec, "W142", "max_steps: 100\nwarmup_ratio: 0.1\n")
