"""DPO: trains with ref_model None (one model in memory), truncates prompts to
data.max_prompt_length tokens, keeps metadata columns; a DPO stage merges the SFT adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DELETE, dataset_entry, make_run, read_run
from helpers import load_base, logits, probe_inputs, status

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.run import execute, run

pytestmark = pytest.mark.train


def dpo_overrides(**data):
    return {
        "tokenizer": {"padding_side": "left"},
        "data": {"datasets": [dataset_entry("preference.jsonl", "preference")], **data},
        "trainer": {"kind": "dpo", "config_class": "DPOConfig",
                    "config": {"beta": 0.1, "max_length": 64, "max_steps": 3,
                               "learning_rate": 0.001, "completion_only_loss": DELETE,
                               "packing": DELETE}},
    }


def test_dpo_trains_with_implicit_reference_and_truncated_prompts(tmp_path):
    from transformers import PreTrainedModel

    outcome = execute(make_run(tmp_path, run_id="dpo", **dpo_overrides(max_prompt_length=6)))
    assert outcome.exit_code == 0
    trainer = outcome.trainer
    assert trainer.ref_model is None
    causal_lms = [m for m in trainer.model.modules()
                  if isinstance(m, PreTrainedModel) and type(m).__name__.endswith("ForCausalLM")]
    assert len(causal_lms) == 1, "a second (reference) model was loaded"
    # the implicit reference is a frozen copy of the initial adapter, not a model
    assert set(trainer.model.peft_config) <= {"default", "ref"}

    tok = trainer.processing_class
    assert tok.padding_side == "left"
    dataset = trainer.train_dataset
    assert "task_type" in dataset.column_names  # metadata kept
    lengths = [len(ids) for ids in dataset["prompt_ids"]]
    assert max(lengths) == 6
    assert all(ids[0] == tok.bos_token_id for ids in dataset["prompt_ids"])
    full = len(tok("What is the capital of Portugal?")["input_ids"])
    assert full > 6, "the probe prompt should be longer than max_prompt_length"
    out = Path(read_run(Path(tmp_path) / "runs" / "dpo")["output_dir"])
    assert (out / "adapter_model.safetensors").exists() and not (out / "ref").exists()
    assert status(read_run(Path(tmp_path) / "runs" / "dpo"))["status"] == "completed"


def test_dpo_stage_merges_the_sft_adapter(tmp_path, capsys):
    sft = make_run(tmp_path, run_id="sft", trainer={"config": {"max_steps": 2}})
    assert run(sft) == 0
    sft_out = read_run(sft)["output_dir"]
    over = dpo_overrides()
    over["adapter"] = {"sft_adapter": {"path": sft_out, "chain": [sft_out],
                                       "fallback_to_base": False}}
    dpo = make_run(tmp_path, run_id="dpo-after-sft", **over)
    assert run(dpo) == 0
    assert f"sft_adapter: merged {sft_out} into the base model" in capsys.readouterr().out

    # `peftc merge` of the DPO stage is the model the stage trained: base + SFT + DPO
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peftc.runtime.merge import merge

    merged_dir = merge(dpo, tmp_path / "merged")
    inputs = probe_inputs(AutoTokenizer.from_pretrained(merged_dir))
    base_sft = PeftModel.from_pretrained(load_base(read_run(sft)), sft_out).merge_and_unload()
    trained = PeftModel.from_pretrained(base_sft, read_run(dpo)["output_dir"])
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert torch.allclose(logits(merged, inputs), logits(trained, inputs), atol=1e-4)


def test_missing_sft_adapter_falls_back_or_fails(tmp_path, capsys):
    over = dpo_overrides()
    nope = str(tmp_path / "nope")
    over["adapter"] = {"sft_adapter": {"path": nope, "chain": [nope], "fallback_to_base": True}}
    assert run(make_run(tmp_path, run_id="fallback", **over)) == 0
    assert "training from the base model (fallback_to_base)" in capsys.readouterr().out
    over["adapter"]["sft_adapter"]["fallback_to_base"] = False
    with pytest.raises(RuntimeConfigError, match="no PEFT adapter"):
        run(make_run(tmp_path, run_id="nofallback", **over))


def test_dpo_with_axolotls_chat_template_type(tmp_path):
    import json

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({
        "messages": [{"role": "user", "content": f"What is {a} plus {b}?"}],
        "chosen": {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
        "rejected": [{"role": "assistant", "content": f"{a} plus {b} is {a + b + 3}."}],
    }) + "\n" for a, b in ((2, 3), (4, 1), (7, 2), (5, 5), (6, 3), (1, 8))))
    overrides = dpo_overrides()
    overrides["data"]["datasets"] = [dataset_entry("x", "chat_template.default",
                                                   path=str(pairs))]
    outcome = execute(make_run(tmp_path, run_id="dpo-chat", **overrides))
    assert outcome.exit_code == 0
    trainer = outcome.trainer
    tok = trainer.processing_class
    row = trainer.train_dataset[0]
    # TRL rendered the prompt with the template's generation prompt, the answer after it
    assert tok.decode(row["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tok.decode(row["chosen_ids"]).endswith("<|im_end|>\n")
