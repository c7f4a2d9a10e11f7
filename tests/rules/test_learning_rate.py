"""Learning-rate rules (peftc/rules/learning_rate.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w110_lora_sft_rate(spec):
    d = check(spec, "W110", "learning_rate: 2.0e-5\n", "learning_rate", "2e-5", "1e-4..5e-4",
              "full-fine-tuning rate", "10x")
    assert d.hint and "2.0e-4" in d.hint
    check(spec, "W110", "learning_rate: 3.0e-3\n", "learning_rate", "0.003", "unstable")
    check(spec, "W110", "learning_rate: 1.0e-6\n", "learning_rate", "1e-6", "far too low")


def test_w110_clean(spec):
    for lr in ("5.0e-5", "1.0e-4", "5.0e-4", "1.0e-3"):
        clean(spec, "W110", f"learning_rate: {lr}\n")
    clean(spec, "W110", "adapter: prompt_tuning\nlearning_rate: 3.0e-2\n")  # not LoRA
    clean(spec, "W110", "rl: dpo\nlearning_rate: 5.0e-6\n")  # not SFT


def test_w110_inline_suppression(spec):
    spec.write("learning_rate: 3.0e-3  # peftc: ignore[W110]  tiny model\n")
    assert "W110" not in spec.codes()


def test_w111_sft_rate_on_dpo(spec):
    check(spec, "W111", "rl: dpo\nlearning_rate: 2.0e-4\n", "learning_rate", "2e-4",
          "5e-6..5e-5")


def test_w111_inherited_in_a_stage(spec):
    """A DPO stage inheriting the top-level SFT rate is reported at the top-level line."""
    d = spec.only("W111", """stages:
  sft: {}
  dpo:
    rl: dpo
    datasets:
      - path: data/preference.jsonl
        type: preference
""")
    assert (d.line, d.col) == spec.value_pos("learning_rate")
    assert d.runs_affected == 1 and d.runs_total == 2
    assert d.text().endswith("(in 1 of 2 runs)") or "(in 1 of 2 runs)" in d.text()


def test_w111_clean(spec):
    clean(spec, "W111", "rl: dpo\nlearning_rate: 5.0e-5\n")
    clean(spec, "W111", "learning_rate: 2.0e-4\n")


def test_w112_dpo_rate_too_low(spec):
    check(spec, "W112", "rl: dpo\nlearning_rate: 5.0e-7\n", "learning_rate", "5e-7",
          "5e-6..5e-5")


def test_w112_clean(spec):
    clean(spec, "W112", "rl: dpo\nlearning_rate: 5.0e-6\n")
    clean(spec, "W112", "rl: dpo\nlearning_rate: 2.0e-6\n")
