"""Conflicting-settings rules (peftc/rules/conflicts.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w170_adapter_keys(spec):
    spec.write("adapter: lora\nadalora_init_r: 12\nnum_virtual_tokens: 20\n")
    found = {d.message.split(" ")[0]: d for d in spec.lint() if d.code == "W170"}
    assert set(found) == {"adalora_init_r", "num_virtual_tokens"}
    assert "adapter 'lora'" in found["adalora_init_r"].message
    assert "read by adalora" in found["adalora_init_r"].message
    for key, d in found.items():
        assert (d.line, d.col) == spec.value_pos(key)


def test_w170_lora_r_with_adalora(spec):
    check(spec, "W170", "adapter: adalora\nlora_r: 32\n", "lora_r",
          "lora_r is ignored with adapter 'adalora'")


def test_w170_loraplus_embedding_without_ratio(spec):
    check(spec, "W170", "loraplus_lr_embedding: 1.0e-6\n", "loraplus_lr_embedding",
          "without loraplus_lr_ratio")


def test_w170_clean(spec):
    base = {k: v for k, v in spec_base().items() if k not in ("lora_r", "lora_alpha")}
    spec.write("adapter: adalora\nadalora_init_r: 12\n", base=base)
    assert "W170" not in spec.codes()
    spec.write("adapter: prompt_tuning\nnum_virtual_tokens: 20\n", base=base)
    assert "W170" not in spec.codes()
    # a sweep over adapters shares method-specific keys: not reported
    spec.write("adalora_init_r: 12\nsweep:\n  adapter: [lora, adalora]\n", base=base)
    assert "W170" not in spec.codes()


def spec_base():
    from tests.rules.helpers import BASE

    return dict(BASE)


def test_w171_dpo_keys_on_sft(spec):
    check(spec, "W171", "rl_beta: 0.2\n", "rl_beta", "rl_beta is ignored")
    check(spec, "W171", "max_prompt_len: 128\n", "max_prompt_len", "max_prompt_len")


def test_w171_clean(spec):
    clean(spec, "W171", "rl: dpo\nlearning_rate: 5.0e-6\nrl_beta: 0.2\n")
    clean(spec, "W171", """rl_beta: 0.2
stages:
  sft: {}
  dpo:
    rl: dpo
    learning_rate: 5.0e-6
    datasets:
      - path: data/preference.jsonl
        type: preference
""")


def test_e706_eval_without_data(spec):
    d = check(spec, "E706", "val_set_size: 0\neval_steps: 20\n", "eval_steps",
              "eval_steps 20")
    assert d.severity == "error"


def test_e706_clean(spec):
    clean(spec, "E706", "val_set_size: 0.1\neval_steps: 20\n")


def test_e707_val_set_too_large(spec):
    check(spec, "E707", "datasets:\n  - path: data/200-rows.jsonl\nval_set_size: 200\n",
          "val_set_size", "val_set_size 200", "200 rows")


def test_e707_clean(spec):
    clean(spec, "E707", "datasets:\n  - path: data/200-rows.jsonl\nval_set_size: 20\n")
    clean(spec, "E707", "datasets:\n  - path: tatsu-lab/alpaca\nval_set_size: 500\n")
