"""Axolotl's loading keys on the tiny model: model_config overrides the config before the
weights load, and bfloat16 loads bfloat16 weights without mixed precision."""

from __future__ import annotations

import json

import torch
from conftest import make_run

from peftc.runtime import precision
from peftc.runtime.merge import merge
from peftc.runtime.run import execute


def test_bfloat16_weights_without_mixed_precision_and_config_overrides(tmp_path):
    run_dir = make_run(
        tmp_path,
        precision={"bf16": False, "fp16": False, "tf32": False, "bfloat16": True},
        model={"config_overrides": {"attention_dropout": 0.25, "peftc_note": "set"}},
        trainer={"config": {"max_steps": 1}},
    )
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    model = outcome.trainer.model
    assert model.config.attention_dropout == 0.25 and model.config.peftc_note == "set"
    base = model.get_base_model()
    assert base.model.embed_tokens.weight.dtype == torch.bfloat16
    assert outcome.trainer.args.bf16 is False  # no autocast: pure bfloat16 weights
    merged = json.loads((merge(run_dir, tmp_path / "merged") / "config.json").read_text())
    assert merged["attention_dropout"] == 0.25 and merged["peftc_note"] == "set"


def test_axolotls_dtype_rule():
    def dtype(**section):
        return precision.resolve({"bf16": False, "fp16": False, "tf32": False, **section}).dtype

    assert dtype() == "float32"
    assert dtype(bfloat16=True) == "bfloat16"
    assert dtype(float16=True) == "float16"  # also what load_in_8bit compiles to
    assert dtype(bfloat16=True, float16=True) == "bfloat16"
