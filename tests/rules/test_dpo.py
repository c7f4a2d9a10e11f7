"""Preference-training rules (peftc/rules/dpo.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean

DPO = "rl: dpo\nlearning_rate: 5.0e-6\n"


def test_w120_beta(spec):
    check(spec, "W120", DPO + "rl_beta: 5.0\n", "rl_beta", "rl_beta 5", "0.01..1",
          "barely move")
    check(spec, "W120", DPO + "dpo_beta: 0.001\n", "dpo_beta", "rl_beta 0.001", "drifts")


def test_w120_clean(spec):
    for beta in ("0.01", "0.1", "0.5", "1.0"):
        clean(spec, "W120", DPO + f"rl_beta: {beta}\n")


def test_w121_rl_rank(spec):
    check(spec, "W121", DPO + "base_model: Qwen/Qwen2.5-7B-Instruct\nlora_r: 128\n"
                              "lora_alpha: 128\n", "lora_r", "lora_r 128", "7B", "4-16",
          "above 32")
    check(spec, "W121", DPO + "base_model: meta-llama/Llama-2-70b-hf\nlora_r: 256\n"
                              "lora_alpha: 256\n", "lora_r", "70B", "16-64")


def test_w121_clean(spec):
    # the Qwen recipe's DPO rank (32 on 7B) passes
    clean(spec, "W121", DPO + "base_model: Qwen/Qwen2.5-7B-Instruct\nlora_r: 32\n"
                              "lora_alpha: 64\n")
    clean(spec, "W121", "base_model: Qwen/Qwen2.5-7B-Instruct\nlora_r: 128\nlora_alpha: 128\n")


def test_w122_neftune_on_dpo(spec):
    check(spec, "W122", DPO + "neftune_noise_alpha: 5\n", "neftune_noise_alpha",
          "neftune_noise_alpha 5")


def test_w122_clean(spec):
    clean(spec, "W122", "neftune_noise_alpha: 5\n")
    # shared by an SFT and a DPO stage at the top level: meant for SFT, not reported
    clean(spec, "W122", """neftune_noise_alpha: 5
stages:
  sft: {}
  dpo:
    rl: dpo
    learning_rate: 5.0e-6
    datasets:
      - path: data/preference.jsonl
        type: preference
""")


def test_w123_prompt_len(spec):
    check(spec, "W123", DPO + "sequence_len: 512\nmax_prompt_len: 600\n", "max_prompt_len",
          "max_prompt_len 600", "sequence_len 512")


def test_w123_clean(spec):
    clean(spec, "W123", DPO + "sequence_len: 512\nmax_prompt_len: 256\n")
