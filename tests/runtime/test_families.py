"""Every fact of the family table, checked against transformers: each family's tiny random
model is built from transformers' own config class (no download) and must have the modules,
layer class and context field that peftc compiles for it, and run each PEFT method the table
allows."""

from __future__ import annotations

import pytest
import torch
from peft import (
    IA3Config,
    LoraConfig,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptTuningConfig,
    get_peft_model,
)

from peftc.compiler.modelconfig import parse
from peftc.runtime import shrink
from peftc.vocab.families import FAMILIES

VOCAB = 256
CASES = [(name, model_type) for name, fam in FAMILIES.items() for model_type in fam.model_types]


def _tiny(model_type: str) -> dict:
    config = shrink.shrink(shrink.class_defaults(model_type), vocab_size=VOCAB)
    config.update(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return config


def _trains(model, config) -> None:
    """One forward and backward pass of the adapted model: its trainable weights get a grad."""
    model = get_peft_model(model, config)
    ids = torch.randint(3, VOCAB, (2, 12))
    model(input_ids=ids, labels=ids).loss.backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in trained)


@pytest.mark.parametrize("name,model_type", CASES)
def test_family_facts_hold_on_the_real_architecture(name, model_type):
    fam = FAMILIES[name]
    defaults = shrink.class_defaults(model_type)
    config = parse(defaults, "class defaults")
    assert config.family == name  # config.json's model_type leads to this family
    assert config.context == defaults["max_position_embeddings"]
    assert config.tied_embeddings == fam.tied

    model = shrink.build(_tiny(model_type))
    linear = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()
              if isinstance(m, torch.nn.Linear)}
    assert set(fam.targets) <= linear - {"lm_head"}
    assert set(fam.ia3) <= linear and set(fam.ff) <= set(fam.ia3)
    names = {m: n for n, m in model.named_modules()}
    embed_in, head = fam.embeddings
    assert names[model.get_input_embeddings()].rsplit(".", 1)[-1] == embed_in
    assert names[model.get_output_embeddings()].rsplit(".", 1)[-1] == head
    assert fam.layer in {type(m).__name__ for m in model.modules()}
    assert fam.layer in model._no_split_modules  # what accelerate's FSDP would wrap too
    assert fam.sdpa == bool(type(model)._supports_sdpa)

    _trains(model, LoraConfig(target_modules=list(fam.targets), task_type="CAUSAL_LM"))
    _trains(shrink.build(_tiny(model_type)), IA3Config(
        target_modules=list(fam.ia3), feedforward_modules=list(fam.ff), task_type="CAUSAL_LM"))
    _trains(shrink.build(_tiny(model_type)),
            PromptTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM"))
    _trains(shrink.build(_tiny(model_type)), PromptEncoderConfig(
        num_virtual_tokens=4, encoder_hidden_size=32, task_type="CAUSAL_LM"))
    # Falcon's multi-query attention needs transformers 5.25 (its config's num_key_value_heads)
    _trains(shrink.build(_tiny(model_type)),
            PrefixTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM"))


def test_shrinking_keeps_what_decides_behaviour():
    real = {"model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32,
            "num_key_value_heads": 32, "num_hidden_layers": 32, "intermediate_size": 8192,
            "vocab_size": 32064, "max_position_embeddings": 131072, "pad_token_id": 32000,
            "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 48,
                             "long_factor": [1.0] * 48}}
    tiny = shrink.shrink(real)
    assert tiny["hidden_size"] // tiny["num_attention_heads"] == 96  # Phi-3's head width
    assert tiny["num_hidden_layers"] == 2 and tiny["num_key_value_heads"] == 4
    assert tiny["vocab_size"] == 32064 and tiny["pad_token_id"] == 32000
    assert tiny["rope_scaling"] == real["rope_scaling"]
    shrink.build({**tiny, "vocab_size": 512, "pad_token_id": 0})  # longrope still valid
