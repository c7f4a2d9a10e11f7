"""Every adapter method trains a few steps, saves, and reloads with the same logits."""

from __future__ import annotations

import pytest
import torch
from conftest import LLAMA_TARGETS, make_run, read_run
from helpers import load_base, logits, metrics, probe_inputs, reload_adapter, status

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.run import execute

pytestmark = pytest.mark.train

QLORA = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
         "bnb_4bit_compute_dtype": "float32"}

CASES = {
    "lora": {},
    "qlora": {"quantization": QLORA, "adapter": {"method": "qlora", "prepare_kbit": True}},
    "lora_8bit": {"quantization": {"load_in_8bit": True},
                  "adapter": {"method": "qlora", "prepare_kbit": True}},
    "dora": {"adapter": {"method": "dora", "config": {"use_dora": True}}},
    "rslora": {"adapter": {"method": "rslora", "config": {"use_rslora": True}}},
    "pissa": {"adapter": {"method": "pissa", "config": {"init_lora_weights": "pissa"}}},
    "olora": {"adapter": {"method": "olora", "config": {"init_lora_weights": "olora"}}},
    "loraplus": {"adapter": {"method": "loraplus",
                             "loraplus": {"lr_ratio": 16.0, "lr_embedding": 1.0e-6}}},
    "adalora": {
        "adapter": {"method": "adalora", "peft_class": "AdaLoraConfig", "config": {
            "task_type": "CAUSAL_LM", "init_r": 6, "target_r": 2, "lora_alpha": 12,
            "lora_dropout": 0.0, "target_modules": LLAMA_TARGETS, "total_step": 10,
            "tinit": 2, "tfinal": 3, "deltaT": 1}},
        "trainer": {"config": {"max_steps": 10}},
    },
    "ia3": {"adapter": {"method": "ia3", "peft_class": "IA3Config", "config": {
        "task_type": "CAUSAL_LM", "target_modules": ["k_proj", "v_proj", "down_proj"],
        "feedforward_modules": ["down_proj"]}}},
    "prompt_tuning": {"adapter": {"method": "prompt_tuning", "peft_class": "PromptTuningConfig",
                                  "config": {"task_type": "CAUSAL_LM", "num_virtual_tokens": 4}}},
    "prefix_tuning": {"adapter": {"method": "prefix_tuning", "peft_class": "PrefixTuningConfig",
                                  "config": {"task_type": "CAUSAL_LM", "num_virtual_tokens": 4}}},
    "p_tuning": {"adapter": {"method": "p_tuning", "peft_class": "PromptEncoderConfig",
                             "config": {"task_type": "CAUSAL_LM", "num_virtual_tokens": 4,
                                        "encoder_hidden_size": 32}}},
    "relora_4bit": {"quantization": QLORA, "adapter": {
        "method": "qlora", "prepare_kbit": True, "relora": {
            "steps": 2, "prune_method": "magnitude", "prune_ratio": 0.9}},
        "trainer": {"config": {"max_steps": 3}}},
    "relora": {"adapter": {"method": "lora", "relora": {
                   "steps": 2, "prune_method": "magnitude", "prune_ratio": 0.9}},
               "trainer": {"config": {"max_steps": 5}, "jagged_lr": {
                   "steps": 2, "warmup_steps": 1, "anneal_steps": 1, "min_lr_scale": 0.001}}},
    "neftune": {"trainer": {"config": {"neftune_noise_alpha": 5.0}}},
}


@pytest.mark.parametrize("name", list(CASES))
def test_adapter_trains_saves_and_reloads(tmp_path, name):
    run_dir = make_run(tmp_path, run_id=f"tiny-{name}", **CASES[name])
    run = read_run(run_dir)
    outcome = execute(run_dir)
    assert outcome.exit_code == 0, status(run)
    assert status(run)["status"] == "completed"
    assert metrics(run)["global_step"] == run["trainer"]["config"]["max_steps"] >= 2

    trainer = outcome.trainer
    inputs = probe_inputs(trainer.processing_class)
    trained = logits(trainer.model, inputs)
    reloaded = reload_adapter(run)
    again = logits(reloaded, inputs)
    tol = 2e-2 if run["quantization"] else 1e-4
    assert torch.allclose(trained, again, atol=tol), (trained - again).abs().max()
    base = logits(load_base(run), inputs)
    trained = trained[:, -base.shape[1]:]  # prompt learning prepends virtual tokens
    assert (trained - base).abs().max() > 1e-4, "the adapter did not change the model"

    if name == "loraplus":
        lrs = sorted({g["lr"] for g in trainer.optimizer.param_groups if g["params"]})
        assert lrs[-1] == pytest.approx(16.0 * lrs[0])
    if name == "adalora":
        config = reloaded.peft_config["default"]
        ranks = [int(sum(mask)) for mask in config.rank_pattern.values()]
        assert sum(ranks) < 6 * len(ranks), "AdaLoRA did not prune any rank"
        assert sum(ranks) <= 2 * len(ranks) + len(ranks), ranks


def test_loftq_on_cpu_stops_before_loading_data(tmp_path):
    run_dir = make_run(tmp_path, adapter={"method": "loftq", "config": {
        "init_lora_weights": "loftq", "loftq_config": {"loftq_bits": 4}}},
        data={"datasets": [{"path": "/nonexistent/data.jsonl", "local": True, "builder": "json",
                            "name": None, "revision": None, "split": "train", "data_files": None,
                            "type": "alpaca", "fields": {}}]})
    with pytest.raises(RuntimeConfigError, match=r"LoftQ.*CUDA"):
        execute(run_dir)
    assert status(read_run(run_dir))["status"] == "failed"


def test_every_peft_class_of_the_vocabulary_is_a_peft_config():
    """The runtime builds ``peft.<adapter.peft_class>``: each class the vocabulary's methods
    name is a PeftConfig of the installed PEFT, and run.yaml's schema accepts exactly those."""
    import peft

    from peftc.schema.runfile import run_schema
    from peftc.vocab.methods import METHODS, Peft

    accepted = run_schema()["properties"]["adapter"]["properties"]["peft_class"]["enum"]
    assert set(accepted) == {m.peft.value for m in METHODS.values()} == {p.value for p in Peft}
    for name in accepted:
        assert issubclass(getattr(peft, name), peft.PeftConfig), name
