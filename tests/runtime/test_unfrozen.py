"""unfrozen_parameters on the tiny model: the patterns users write (the model's own names)
train those parameters beside the adapter, the result is saved and merged, and a pattern
that matches nothing stops the run before training (E607)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import make_run, read_run
from helpers import load_base, reload_adapter
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.merge import merge
from peftc.runtime.run import execute
from peftc.runtime.unfreeze import UNFROZEN, load_unfrozen

NORMS = [{"pattern": "^model.norm.weight$", "regex": r"^model\.norm\.weight$"},
         {"pattern": "^model.layers.1.post_attention_layernorm.weight",
          "regex": r"^model\.layers\.1\.post_attention_layernorm\.weight"}]
NAMES = ["model.layers.1.post_attention_layernorm.weight", "model.norm.weight"]  # sorted


def test_unfrozen_parameters_train_beside_the_adapter_and_are_saved(tmp_path):
    run_dir = make_run(tmp_path, adapter={"unfrozen_parameters": NORMS},
                       trainer={"config": {"max_steps": 3, "save_steps": 2}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    run = read_run(run_dir)
    out = Path(run["output_dir"])
    base = dict(load_base(run).named_parameters())
    saved = load_file(out / UNFROZEN)
    assert sorted(saved) == NAMES
    for name in NAMES:  # trained: moved away from the base model's values
        assert not torch.equal(saved[name], base[name])
    frozen = "model.layers.0.post_attention_layernorm.weight"
    trained = dict(outcome.trainer.model.get_base_model().named_parameters())
    assert torch.equal(trained[frozen], base[frozen])  # not matched: stays frozen
    lora_b = [p for n, p in trained.items() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # the adapter trained too
    assert sorted(load_file(out / "checkpoint-2" / UNFROZEN)) == NAMES  # resumable

    merged = AutoModelForCausalLM.from_pretrained(str(merge(run_dir, tmp_path / "merged")))
    assert torch.equal(dict(merged.named_parameters())["model.norm.weight"],
                       saved["model.norm.weight"])
    # a reload of the adapter onto the base with the saved parameters gives the trained model
    model = reload_adapter(run)
    assert load_unfrozen(model, out)
    assert torch.equal(dict(model.get_base_model().named_parameters())["model.norm.weight"],
                       saved["model.norm.weight"])


def test_a_pattern_that_matches_nothing_stops_the_run(tmp_path):
    # Axolotl's gemma3 example: a multimodal model's name on a text-only model
    run_dir = make_run(tmp_path, adapter={"unfrozen_parameters": [
        {"pattern": "^model.language_model.*", "regex": r"^model\.language_model\.*"}]})
    with pytest.raises(RuntimeConfigError) as exc:
        execute(run_dir)
    assert exc.value.code == "E607"
    assert exc.value.message.startswith("unfrozen_parameters '^model.language_model.*' "
                                        "matches no parameter of the model; its names look "
                                        "like model.embed_tokens.weight")
