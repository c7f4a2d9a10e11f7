"""An Axolotl config compiles to what Axolotl would train: its defaults, no peftc layer unasked."""

import pytest

from peftc.compiler import resolve_spec
from peftc.diagnostics import PeftcError

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
    kinds = {run.source(k).kind for k in run.values}
    assert not kinds & {"profile", "task"}


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
        assert run.source(key).kind == "default"


def test_an_empty_unknown_key_is_still_a_typo(write_spec):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "lora_alhpa:\n"))
    assert [d.code for d in exc.value.diagnostics] == ["E100"]
