"""Sample-packing rules (peftc/rules/packing.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w130_packed_eval(spec):
    check(spec, "W130", "sample_packing: true\neval_sample_packing: true\n",
          "eval_sample_packing", "evaluation is packed")


def test_w130_clean(spec):
    clean(spec, "W130", "sample_packing: true\neval_sample_packing: false\n")
    clean(spec, "W130", "eval_sample_packing: true\nval_set_size: 0\n")  # no evaluation


def test_w131_wrapped(spec):
    check(spec, "W131", "sample_packing: true\npacking_strategy: wrapped\n",
          "packing_strategy", "'wrapped'")


def test_w131_flex(spec):
    check(spec, "W131", "sample_packing: true\nattn_implementation: flex_attention\n",
          "attn_implementation", "'flex_attention'")


def test_w131_clean(spec):
    for snippet in ("sample_packing: true\n",
                    "sample_packing: true\nattn_implementation: flash_attention_2\n",
                    "sample_packing: true\nattn_implementation: eager\n",
                    "packing_strategy: wrapped\n"):
        clean(spec, "W131", snippet)


def test_w132_packing_on_dpo(spec):
    check(spec, "W132", "rl: dpo\nlearning_rate: 5.0e-6\nsample_packing: true\n",
          "sample_packing", "ignored on a DPO run")


def test_w132_clean(spec):
    clean(spec, "W132", "rl: dpo\nlearning_rate: 5.0e-6\n")
    clean(spec, "W132", "sample_packing: true\n")
