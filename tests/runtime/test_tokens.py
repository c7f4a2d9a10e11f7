"""special_tokens, tokens and resize_token_embeddings_to_32x on real tiny models: the tokens are
added as Axolotl adds them, the embeddings grow, the new rows train through modules_to_save, and
a run whose adapter cannot train them stops before training (E606)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import dataset_entry, make_run, read_run
from helpers import status, tiny_model

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.merge import merge
from peftc.runtime.run import execute

EMBEDDINGS = ["embed_tokens", "lm_head"]


def tool_data(tmp_path: Path) -> Path:
    """Rows whose answers use the new ``<tool>`` token."""
    path = tmp_path / "tool.jsonl"
    rows = [{"instruction": f"Call the tool on {n}.", "input": "", "output": f"<tool> {n}"}
            for n in range(8)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tokens_run(tmp_path: Path, modules_to_save: list[str] | None, **tokenizer) -> Path:
    return make_run(
        tmp_path,
        tokenizer=tokenizer,
        model={"resize_to_multiple_of": 32},
        adapter={"config": {"modules_to_save": modules_to_save}},
        data={"datasets": [dataset_entry("tool", "alpaca_plain", path=str(tool_data(tmp_path)))]},
        trainer={"config": {"max_steps": 2}},
    )


def test_new_tokens_grow_the_embeddings_and_train_their_rows(tmp_path):
    run_dir = tokens_run(tmp_path, EMBEDDINGS, special_tokens={"eos_token": "<|end|>"},
                         tokens=["<tool>"])
    outcome = execute(run_dir)
    assert outcome.exit_code == 0, status(read_run(run_dir))
    trainer = outcome.trainer
    tokenizer = trainer.processing_class
    assert len(tokenizer) == 1002 and tokenizer.eos_token == "<|end|>"
    tool, end = tokenizer.convert_tokens_to_ids(["<tool>", "<|end|>"])
    assert tokenizer("<tool> 3", add_special_tokens=False)["input_ids"][0] == tool  # one piece
    base = trainer.model.get_base_model()
    assert base.get_input_embeddings().num_embeddings == 1024  # rounded up to 32
    assert base.config.eos_token_id == end  # synced to the tokenizer, as Axolotl does
    # the new rows trained: the adapter's copies moved away from the resized originals
    wrapper = base.model.embed_tokens
    trained, original = wrapper.modules_to_save["default"].weight, wrapper.original_module.weight
    assert not torch.equal(trained[tool], original[tool])
    head = base.lm_head
    assert not torch.equal(head.modules_to_save["default"].weight[end],
                           head.original_module.weight[end])

    out = Path(read_run(run_dir)["output_dir"])
    saved = json.loads((out / "tokenizer_config.json").read_text())
    assert saved["eos_token"] == "<|end|>"
    merged = merge(run_dir, tmp_path / "merged")  # the base grows before the adapter loads
    assert json.loads((merged / "config.json").read_text())["vocab_size"] == 1024


def test_new_special_token_without_trained_embeddings_stops_before_training(tmp_path):
    run_dir = tokens_run(tmp_path, None, special_tokens={"eos_token": "<|end|>"})
    with pytest.raises(RuntimeConfigError) as exc:
        execute(run_dir)
    assert exc.value.code == "E606"
    assert "'<|end|>' are new to the vocabulary" in exc.value.message
    assert "lora_modules_to_save: [embed_tokens, lm_head]" in exc.value.message
    assert status(read_run(run_dir))["status"] == "failed"
    assert not (Path(read_run(run_dir)["output_dir"]) / "checkpoint-1").exists()


def test_known_special_tokens_and_a_new_pad_need_nothing_trained(tmp_path):
    # </s> is already the tiny tokenizer's; a new pad token is never trained on (as Axolotl)
    run_dir = tokens_run(tmp_path, None, special_tokens={"eos_token": "</s>",
                                                         "pad_token": "<|pad|>"})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    tokenizer = outcome.trainer.processing_class
    assert (len(tokenizer), tokenizer.pad_token) == (1001, "<|pad|>")


def test_the_embedding_modules_are_the_architectures(tmp_path):
    from transformers import GPTNeoXConfig

    model = tiny_model(tmp_path / "neox", GPTNeoXConfig(
        vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=128))

    def neox_run(modules: list[str] | None) -> Path:
        return make_run(tmp_path, f"neox-{bool(modules)}",
                        model={"name_or_path": str(model), "family": "gpt_neox"},
                        tokenizer={"name_or_path": str(model), "tokens": ["<tool>"]},
                        adapter={"config": {"target_modules": ["query_key_value"],
                                            "modules_to_save": modules}},
                        trainer={"config": {"max_steps": 1}})

    with pytest.raises(RuntimeConfigError) as exc:
        execute(neox_run(None))
    assert "lora_modules_to_save: [embed_in, lm_head]" in exc.value.message
    outcome = execute(neox_run(["embed_in", "lm_head"]))
    assert outcome.exit_code == 0
    assert outcome.trainer.model.get_base_model().get_input_embeddings().num_embeddings == 1001


def reserved_model(tmp_path: Path) -> tuple[Path, int]:
    """A tiny Llama whose tokenizer ships reserved added tokens, as Llama 3's and Qwen's do;
    and the first reserved id."""
    from transformers import AutoTokenizer, LlamaConfig

    path = tiny_model(tmp_path / "reserved", LlamaConfig(
        vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2))
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|reserved_0|>",
                                                                "<|reserved_1|>"]})
    tokenizer.save_pretrained(path)
    return path, tokenizer.convert_tokens_to_ids("<|reserved_0|>")


def test_added_tokens_overrides_rename_reserved_tokens_in_place(tmp_path):
    from transformers import AutoTokenizer

    path, reserved = reserved_model(tmp_path)
    run_dir = make_run(
        tmp_path, model={"name_or_path": str(path)},
        tokenizer={"name_or_path": str(path), "added_tokens_overrides": {reserved: "<tool>"}},
        data={"datasets": [dataset_entry("tool", "alpaca_plain", path=str(tool_data(tmp_path)))]},
        trainer={"config": {"max_steps": 2}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0, status(read_run(run_dir))
    out = Path(read_run(run_dir)["output_dir"])
    for tokenizer in (outcome.trainer.processing_class, AutoTokenizer.from_pretrained(out)):
        assert len(tokenizer) == 1002  # renamed, not added
        assert tokenizer.convert_tokens_to_ids("<tool>") == reserved
        assert tokenizer("<tool> 3", add_special_tokens=False)["input_ids"][0] == reserved
        assert "<|reserved_0|>" not in tokenizer.get_vocab()
        assert "<tool>" in tokenizer.all_special_tokens
    base = outcome.trainer.model.get_base_model()
    assert base.get_input_embeddings().num_embeddings == 1024  # the same rows


@pytest.mark.parametrize("overrides,words", [
    ({5: "<tool>"}, "id 5 is not an added token of the tokenizer"),
    ({1000: "<|reserved_1|>"}, "'<|reserved_1|>' is already token 1001"),
    ({1000: "<x>", 1001: "<x>"}, "'<x>' is already token 1001"),
])
def test_added_tokens_overrides_refused_before_the_model_loads(tmp_path, overrides, words):
    path, _ = reserved_model(tmp_path)
    run_dir = make_run(tmp_path, model={"name_or_path": str(path)},
                       tokenizer={"name_or_path": str(path), "added_tokens_overrides": overrides})
    with pytest.raises(RuntimeConfigError, match=words) as exc:
        execute(run_dir)
    assert exc.value.code == "E610"
