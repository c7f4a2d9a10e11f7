"""Model rules (peftc/rules/model.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean

LLAMA2 = "base_model: meta-llama/Llama-2-7b-hf\nlora_r: 32\nlora_alpha: 64\n"


def test_w180_unknown_targets(spec):
    check(spec, "W180", LLAMA2 + "lora_target_modules: [c_attn, c_proj]\n",
          "lora_target_modules", "c_attn, c_proj", "llama", "refuse")
    check(spec, "W180", LLAMA2 + "lora_target_modules: [q_proj, w1]\n",
          "lora_target_modules", "w1 not found", "skipped")
    check(spec, "W180", "base_model: EleutherAI/pythia-1b\nlora_r: 16\nlora_alpha: 32\n"
                        "lora_target_modules: [q_proj]\n", "lora_target_modules", "gpt_neox")


def test_w180_clean(spec):
    for snippet in (LLAMA2 + "lora_target_modules: [q_proj, v_proj, lm_head]\n",
                    LLAMA2 + "lora_modules_to_save: [embed_tokens, lm_head]\n",
                    LLAMA2 + "lora_target_linear: true\n",
                    "base_model: microsoft/Phi-3-mini-4k-instruct\nlora_r: 16\n"
                    "lora_alpha: 32\nlora_target_modules: [qkv_proj, o_proj]\n",
                    "base_model: Qwen/Qwen-7B\nlora_r: 32\nlora_alpha: 64\n"
                    "lora_target_modules: [c_attn]\n"):
        clean(spec, "W180", snippet)


def test_w181_tied_lm_head(spec):
    check(spec, "W181", "base_model: google/gemma-2b\nlora_r: 16\nlora_alpha: 32\n"
                        "lora_target_modules: [q_proj, v_proj, lm_head]\n",
          "lora_target_modules", "gemma-2b", "lm_head")
    check(spec, "W181", "base_model: Qwen/Qwen2.5-1.5B-Instruct\nlora_r: 16\nlora_alpha: 32\n"
                        "lora_modules_to_save: [lm_head]\n", "lora_modules_to_save",
          "Qwen2.5-1.5B-Instruct")


def test_w181_clean(spec):
    clean(spec, "W181", "base_model: Qwen/Qwen2.5-7B-Instruct\nlora_r: 32\nlora_alpha: 64\n"
                        "lora_target_modules: [q_proj, lm_head]\n")
    clean(spec, "W181", "base_model: google/gemma-2b\nlora_r: 16\nlora_alpha: 32\n")


def test_w182_sequence_beyond_context(spec):
    check(spec, "W182", LLAMA2 + "sequence_len: 8192\n", "sequence_len", "8192", "4096",
          "Llama 2")
    check(spec, "W182", "base_model: meta-llama/Meta-Llama-3-8B\nlora_r: 32\nlora_alpha: 64\n"
                        "sequence_len: 16384\n", "sequence_len", "8192", "Llama 3")
    check(spec, "W182", "sequence_len: 2048\n", "sequence_len", "1024", "tiny")


def test_w182_clean(spec):
    # peftc's default sequence_len (2048) on the tiny model (1024) is not the user's choice
    spec.write("seed: 1\n", base={"base_model": "peftc:tiny-llama", "profile": "none",
                                  "datasets": [{"path": "data/alpaca.jsonl"}]})
    assert "W182" not in spec.codes()
    clean(spec, "W182", LLAMA2 + "sequence_len: 4096\n")
    clean(spec, "W182", "base_model: Qwen/Qwen2.5-7B-Instruct\nlora_r: 32\nlora_alpha: 64\n"
                        "sequence_len: 32768\n")
    clean(spec, "W182", "base_model: meta-llama/Llama-3.1-8B\nlora_r: 32\nlora_alpha: 64\n"
                        "sequence_len: 32768\n")
    clean(spec, "W182", "base_model: microsoft/Phi-3-mini-128k-instruct\nlora_r: 16\n"
                        "lora_alpha: 32\nsequence_len: 65536\n")


def test_w183_trust_remote_code(spec):
    check(spec, "W183", "trust_remote_code: true\n", "trust_remote_code",
          "'peftc:tiny-llama'", "no revision_of_model")


def test_w183_clean(spec):
    clean(spec, "W183", "trust_remote_code: false\n")
