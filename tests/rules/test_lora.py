"""LoRA shape rules (peftc/rules/lora.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w101_alpha_ratio(spec):
    d = check(spec, "W101", "lora_r: 8\nlora_alpha: 128\n", "lora_alpha",
              "lora_alpha 128", "lora_r 8", "gain 16", "lora_alpha 8 or 16")
    assert d.severity == "warning"
    check(spec, "W101", "lora_r: 64\nlora_alpha: 16\n", "lora_alpha", "gain 0.25")


def test_w101_clean(spec):
    for snippet in ("lora_r: 8\nlora_alpha: 8\n", "lora_r: 8\nlora_alpha: 16\n",
                    "lora_r: 16\nlora_alpha: 8\n",
                    "adapter: rslora\nlora_r: 16\nlora_alpha: 4\n"):
        clean(spec, "W101", snippet)


def test_w102_rslora_gain(spec):
    check(spec, "W102", "adapter: rslora\nlora_r: 16\nlora_alpha: 32\n", "lora_alpha",
          "lora_alpha 32", "sqrt(lora_r 16)", "= 8,", "4x the standard-scaling gain 2",
          "~8")
    check(spec, "W102", "peft_use_rslora: true\nlora_r: 64\nlora_alpha: 128\n", "lora_alpha",
          "= 16,", "8x")


def test_w102_clean(spec):
    clean(spec, "W102", "adapter: rslora\nlora_r: 64\nlora_alpha: 16\n")
    clean(spec, "W102", "lora_r: 64\nlora_alpha: 128\n")  # standard scaling: W101's business


def test_w103_bias(spec):
    check(spec, "W103", "lora_bias: lora_only\n", "lora_bias", "'lora_only'")


def test_w103_clean(spec):
    clean(spec, "W103", "lora_bias: none\n")
    clean(spec, "W103", "adapter: ia3\n")


def test_w104_loftq_config_ignored(spec):
    check(spec, "W104", "adapter: qlora\nloftq_config:\n  loftq_bits: 4\n", "loftq_config",
          "init_lora_weights is None", "'qlora'")
    check(spec, "W104", "peft_init_lora_weights: pissa\nloftq_config:\n  loftq_iter: 2\n",
          "loftq_config", "'pissa'")


def test_w104_clean(spec):
    clean(spec, "W104", "adapter: loftq\nload_in_4bit: true\nloftq_config:\n  loftq_iter: 4\n")
    clean(spec, "W104", "peft_init_lora_weights: loftq\nload_in_4bit: true\n"
                        "loftq_config:\n  loftq_bits: 8\n")


def test_w105_loftq_without_quantization(spec):
    check(spec, "W105", "adapter: loftq\n", "adapter", "4-bit")
    check(spec, "W105", "peft_init_lora_weights: loftq\nloftq_config:\n  loftq_bits: 8\n",
          "peft_init_lora_weights", "8-bit")


def test_w105_clean(spec):
    clean(spec, "W105", "adapter: loftq\nload_in_4bit: true\n")
    clean(spec, "W105", "adapter: loftq\nload_in_8bit: true\n")


def test_w106_loftq_few_targets(spec):
    check(spec, "W106", "adapter: loftq\nload_in_4bit: true\n"
                        "lora_target_modules: [q_proj, v_proj]\n", "lora_target_modules",
          "2 of the 7 llama projections", "k_proj, o_proj, gate_proj, up_proj, down_proj")


def test_w106_clean(spec):
    clean(spec, "W106", "adapter: loftq\nload_in_4bit: true\nlora_target_linear: true\n")
    clean(spec, "W106", "adapter: loftq\nload_in_4bit: true\n")  # family default: all seven
    clean(spec, "W106", "load_in_4bit: true\nlora_target_modules: [q_proj, v_proj]\n")


def test_w107_rank_model_size(spec):
    check(spec, "W107", "base_model: meta-llama/Llama-2-7b-hf\nlora_r: 512\nlora_alpha: 1024\n",
          "lora_r", "lora_r 512", "7B model", "32-64", "above 128")
    check(spec, "W107", "base_model: Qwen/Qwen2.5-1.5B-Instruct\nlora_r: 4\nlora_alpha: 8\n",
          "lora_r", "1.5B", "16-32", "below 8")
    check(spec, "W107", "base_model: meta-llama/Llama-3.1-70B\nlora_r: 16\nlora_alpha: 32\n",
          "lora_r", "70B", "128-256")


def test_w107_clean(spec):
    for snippet in ("base_model: meta-llama/Llama-2-7b-hf\nlora_r: 16\nlora_alpha: 32\n",
                    "base_model: meta-llama/Llama-2-7b-hf\nlora_r: 128\nlora_alpha: 256\n",
                    "base_model: mistralai/Mixtral-8x7B-v0.1\nlora_r: 512\nlora_alpha: 512\n",
                    "base_model: microsoft/phi-2\nlora_r: 512\nlora_alpha: 512\n",
                    "base_model: meta-llama/Llama-2-7b-hf\nrl: dpo\nlora_r: 8\n"
                    "lora_alpha: 16\nlearning_rate: 1.0e-5\n"):
        clean(spec, "W107", snippet)


def test_w108_rank_dataset_size(spec):
    check(spec, "W108", "datasets:\n  - path: data/200-rows.jsonl\nval_set_size: 0\n"
                        "lora_r: 64\nlora_alpha: 64\n", "lora_r",
          "lora_r 64", "200 training rows", "4-8", "above 16")
    # val_set_size is held out before counting
    check(spec, "W108", "lora_r: 32\nlora_alpha: 32\n", "lora_r", "180 training rows")


def test_w108_clean(spec):
    clean(spec, "W108", "lora_r: 16\nlora_alpha: 16\n")
    # hub datasets have no local size: skipped
    clean(spec, "W108", "datasets:\n  - path: tatsu-lab/alpaca\nlora_r: 64\nlora_alpha: 64\n")
