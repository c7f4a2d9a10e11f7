"""Regularisation rules (peftc/rules/regularization.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w190_weight_decay(spec):
    check(spec, "W190", "weight_decay: 0.5\n", "weight_decay", "weight_decay 0.5", "> 0.1",
          "1e-4")


def test_w190_clean(spec):
    clean(spec, "W190", "weight_decay: 0.1\n")


def test_w191_dropout(spec):
    check(spec, "W191", "lora_dropout: 0.5\n", "lora_dropout", "lora_dropout 0.5", "> 0.3")


def test_w191_clean(spec):
    clean(spec, "W191", "lora_dropout: 0.3\n")


def test_w192_no_clipping(spec):
    check(spec, "W192", "max_grad_norm: 0\n", "max_grad_norm", "max_grad_norm 0")


def test_w192_clean(spec):
    clean(spec, "W192", "max_grad_norm: 1.0\n")


def test_w193_neftune(spec):
    check(spec, "W193", "neftune_noise_alpha: 50\n", "neftune_noise_alpha", "50", "> 15")


def test_w193_clean(spec):
    clean(spec, "W193", "neftune_noise_alpha: 15\n")
