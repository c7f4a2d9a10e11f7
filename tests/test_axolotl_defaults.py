"""An Axolotl config compiles to what Axolotl would train: its defaults, no peftc layer unasked."""

import json

import pytest
import yaml

from peftc.compiler import resolve_spec
from peftc.compiler.layers import Layer
from peftc.diagnostics import PeftcError
from tests.conftest import findings

# The smallest config Axolotl's LoRA examples share.
MINIMAL = """
base_model: NousResearch/Llama-3.2-1B
datasets:
  - path: teknium/GPT4-LLM-Cleaned
    type: alpaca
adapter: lora
lora_r: 8
lora_alpha: 16
learning_rate: 0.0002
micro_batch_size: 2
"""


def test_no_profile_applies_without_a_task_plugin(write_spec):
    [run] = resolve_spec(write_spec(MINIMAL)).runs
    assert run.values["profile"] == "none"
    layers = {run.source(k).layer for k in run.values}
    assert not layers & {Layer.PROFILE, Layer.TASK}


def test_a_task_plugin_brings_its_profile(write_spec):
    [run] = resolve_spec(write_spec("base_model: meta-llama/Llama-2-7b-hf\ntask: metamath\n")).runs
    assert run.values["profile"] == "paper_math_ift"
    assert run.source("sequence_len").label == "profile:paper_math_ift"


def test_an_empty_key_means_unset(write_spec):
    [plain] = resolve_spec(write_spec(MINIMAL)).runs
    spec = write_spec(MINIMAL + "wandb_project:\nsequence_len:\nlora_dropout:\n", "empty.yaml")
    [run] = resolve_spec(spec).runs
    for key in ("sequence_len", "lora_dropout"):
        assert run.values[key] == plain.values[key]
        assert run.source(key).layer is Layer.DEFAULT


def test_an_empty_unknown_key_is_still_a_typo(write_spec):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "lora_alhpa:\n"))
    assert [d.code for d in exc.value.diagnostics] == ["E100"]


# Axolotl 0.18's defaults (shared/notes/axolotl-keys.md, section 3): run.yaml key -> value.
AXOLOTL_TRAINER = {
    "max_length": 512, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
    "num_train_epochs": 1.0, "optim": "adamw_torch_fused", "lr_scheduler_type": "cosine",
    "lr_scheduler_kwargs": {}, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999,
    "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "seed": 42, "eval_strategy": "no",
    "save_strategy": "epoch", "save_steps": None, "save_total_limit": 4,
    "completion_only_loss": True, "packing": False,
}
# spec key -> its provenance label
AXOLOTL_SOURCES = {
    "sequence_len": "default:axolotl", "gradient_accumulation_steps": "default:axolotl",
    "num_epochs": "default:axolotl", "optimizer": "default:axolotl",
    "lr_scheduler": "default:axolotl", "weight_decay": "default:axolotl",
    "adam_beta2": "default:axolotl", "val_set_size": "default:axolotl",
    "train_on_inputs": "default:axolotl", "lora_dropout": "default:axolotl",
    "save_total_limit": "default:axolotl", "bf16": "default:axolotl", "tf32": "default:axolotl",
    "seed": "default:axolotl",
}


def compiled(write_spec, tmp_path, text: str) -> tuple[dict, dict]:
    from peftc.compiler import compile_spec

    result = compile_spec(write_spec(text), tmp_path / "out")
    run_dir = tmp_path / "out" / "runs" / result.runs[0].run_id
    prov = json.loads((run_dir / "provenance.json").read_text())
    return yaml.safe_load((run_dir / "run.yaml").read_text()), prov


def test_a_minimal_axolotl_config_compiles_to_axolotls_defaults(write_spec, tmp_path):
    run, prov = compiled(write_spec, tmp_path, MINIMAL)
    trainer = run["trainer"]["config"]
    assert {k: trainer[k] for k in AXOLOTL_TRAINER} == AXOLOTL_TRAINER
    # warmup: min(int(3% of the steps), 100), capped by the runtime once it knows the steps
    assert trainer["warmup_steps"] == 0.03 and run["trainer"]["max_warmup_steps"] == 100
    assert run["adapter"]["config"]["lora_dropout"] == 0.0
    assert run["data"]["val_set_size"] == 0.0 and run["data"]["train_on_inputs"] is False
    # precision is the machine's: auto stays auto, whichever machine compiles
    assert run["precision"] == {"bf16": "auto", "fp16": "auto", "tf32": "auto",
                                "bfloat16": False, "float16": False}
    assert "dtype" not in run["model"]["from_pretrained"]
    labels = {k: prov[k]["source"] for k in AXOLOTL_SOURCES}
    assert labels == AXOLOTL_SOURCES


def test_peftc_defaults_where_axolotl_has_none_say_so(write_spec, tmp_path):
    text = MINIMAL.replace("lora_r: 8\nlora_alpha: 16\n", "")
    run, prov = compiled(write_spec, tmp_path, text)
    assert (run["adapter"]["config"]["r"], run["adapter"]["config"]["lora_alpha"]) == (16, 32)
    assert prov["lora_r"]["source"] == prov["lora_alpha"]["source"] == "default:peftc"


def test_warmup_with_max_steps_is_counted_at_compile_time(write_spec):
    [run] = resolve_spec(write_spec(MINIMAL + "max_steps: 1000\n")).runs
    assert run.values["warmup_steps"] == 30 and run.values.get("warmup_ratio") is None
    assert run.source("warmup_steps").label.startswith("derived: min(int(0.03 * 1000), 100)")
    [run] = resolve_spec(write_spec(MINIMAL + "max_steps: 10000\n", "long.yaml")).runs
    assert run.values["warmup_steps"] == 100
    [run] = resolve_spec(write_spec(MINIMAL + "warmup_ratio: 0.1\n", "ratio.yaml")).runs
    assert run.values["warmup_ratio"] == 0.1 and run.values.get("max_warmup_steps") is None


@pytest.mark.parametrize("text,steps,label", [
    # Axolotl's builder: int(ratio x steps), where transformers would round 2.5 up to 3
    ("max_steps: 50\nwarmup_ratio: 0.05\n", 2, "int(warmup_ratio 0.05 * max_steps 50)"),
    ("max_steps: 50\nwarmup_ratio: 0.03\n", 2, "int(warmup_ratio 0.03 * max_steps 50)"),  # 1->2
    ("max_steps: 60\n", 2, "min(int(0.03 * 60), 100)"),  # the default's one step, made two
    ("max_steps: 60\nwarmup_steps: 1\n", 2, "Axolotl turns warmup_steps 1 into 2"),
    ("max_steps: 60\nwarmup_steps: 0\n", 0, None),
])
def test_warmup_steps_are_axolotls(write_spec, text, steps, label):
    spec = write_spec(MINIMAL + text)
    [run] = resolve_spec(spec).runs
    assert run.values["warmup_steps"] == steps
    if label:
        assert label in run.source("warmup_steps").label
    codes = [d.code for d in findings(spec)]
    assert ("W214" in codes) == ("warmup_steps: 1" in text)
    assert "W203" not in codes  # a derived warmup_steps is not a second warmup setting


@pytest.mark.parametrize("text,expect", [
    ("bf16: true\n", {"bf16": True, "fp16": False}),
    ("fp16: true\n", {"bf16": False, "fp16": True}),  # Axolotl: fp16 with auto -> bf16 off
    ("bf16: auto\nfp16: false\n", {"bf16": "auto", "fp16": False}),
    ("bf16: false\ntf32: false\n", {"bf16": False, "fp16": False, "tf32": False}),
])
def test_precision_keys(write_spec, tmp_path, text, expect):
    run, _ = compiled(write_spec, tmp_path, MINIMAL + text)
    assert {k: run["precision"][k] for k in expect} == expect
