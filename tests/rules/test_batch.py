"""Batch rules (peftc/rules/batch.py)."""

from __future__ import annotations

from tests.rules.helpers import check, clean


def test_w150_accumulation(spec):
    d = check(spec, "W150", "num_gpus: 1\nmicro_batch_size: 1\nglobal_batch_size: 256\n",
              "global_batch_size", "gradient_accumulation_steps 256", "> 64",
              "1 micro x 256 accum x 1 GPUs")
    assert d.severity == "warning"
    check(spec, "W150", "micro_batch_size: 1\ngradient_accumulation_steps: 65\n",
          "gradient_accumulation_steps", "65")


def test_w150_clean(spec):
    clean(spec, "W150", "micro_batch_size: 1\ngradient_accumulation_steps: 64\n")
    clean(spec, "W150", "num_gpus: 8\nmicro_batch_size: 1\nglobal_batch_size: 256\n")


def test_w150_seed_sweep_counts_runs(spec):
    """The seed sweep's math profile (768 on 8 GPUs -> 96): one finding, 8 of 32 runs."""
    spec.write("""num_gpus: 8
micro_batch_size: 1
sweep:
  base_model: [meta-llama/Llama-2-7b-hf, mistralai/Mistral-7B-v0.1]
  task: [metamath, magicoder, alpaca, csqa]
  adapter: [lora, loraplus, adalora, pissa]
""", base={"name": "paper-ift", "max_steps": 200, "learning_rate": 2.0e-4})
    diags = spec.lint()
    assert [d.code for d in diags] == ["W150"]
    (d,) = diags
    assert "gradient_accumulation_steps 96" in d.message
    assert (d.runs_affected, d.runs_total) == (8, 32)
    assert d.text().count("(in 8 of 32 runs)") == 1
    assert (d.line, d.col) == spec.value_pos("task")


def test_w151_sft_batch_info(spec):
    d = check(spec, "W151", "micro_batch_size: 1\ngradient_accumulation_steps: 2\n",
              "gradient_accumulation_steps", "effective batch 2", "16-64", "below 4")
    assert d.severity == "info"


def test_w151_clean(spec):
    clean(spec, "W151", "micro_batch_size: 4\ngradient_accumulation_steps: 1\n")
    # peftc's defaults (a batch of 1) are not the user's choice: not reported
    spec.write("seed: 1\n", base={"base_model": "peftc:tiny-llama", "profile": "none",
                                  "datasets": [{"path": "data/alpaca.jsonl"}]})
    assert "W151" not in spec.codes()
    clean(spec, "W151", "num_gpus: 8\nmicro_batch_size: 1\nglobal_batch_size: 768\n")


def test_w152_dpo_batch_info(spec):
    d = check(spec, "W152", "rl: dpo\nlearning_rate: 5.0e-6\nmicro_batch_size: 16\n"
                            "gradient_accumulation_steps: 16\n", "gradient_accumulation_steps",
              "effective batch 256 pairs", "8-32", "above 128")
    assert d.severity == "info"


def test_w152_clean(spec):
    clean(spec, "W152", "rl: dpo\nlearning_rate: 5.0e-6\nmicro_batch_size: 2\n"
                        "gradient_accumulation_steps: 8\n")
