"""Pipelines at compile time: the Qwen recipe's numbers, stage order and dependencies."""

import json

import pytest
import yaml

from peftc.compiler import compile_spec, resolve_spec
from peftc.diagnostics import PeftcError
from tests.conftest import EXAMPLES

SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen") / "out"
    compiled = compile_spec(EXAMPLES / "qwen2.5-7b" / "sft-dpo.yaml", out)
    return {r.stage: yaml.safe_load((out / "runs" / r.run_id / "run.yaml").read_text())
            for r in compiled.runs}, out


def test_qwen_sft_matches_the_seed(qwen):
    sft = qwen[0]["sft"]
    lora, tr = sft["adapter"]["config"], sft["trainer"]["config"]
    assert sft["model"]["name_or_path"] == "Qwen/Qwen2.5-7B-Instruct"
    assert sft["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                   "bnb_4bit_use_double_quant": True}
    assert (lora["r"], lora["lora_alpha"], lora["lora_dropout"]) == (64, 128, 0.05)
    assert lora["target_modules"] == SEVEN
    assert tr["learning_rate"] == 2e-5 and tr["lr_scheduler_type"] == "cosine"
    assert tr["warmup_steps"] == 0.05
    assert (tr["per_device_train_batch_size"], tr["gradient_accumulation_steps"]) == (2, 8)
    assert sft["batch"]["effective_global_batch_size"] == 16
    assert tr["num_train_epochs"] == 3.0 and tr["max_steps"] == -1
    assert tr["max_length"] == 4096
    assert sft["precision"]["bf16"] is True and tr["activation_checkpointing"] is True
    assert sft["model"]["gradient_checkpointing_kwargs"] == {"use_reentrant": False}
    assert tr["optim"] == "adamw_torch_fused"
    assert (tr["weight_decay"], tr["max_grad_norm"]) == (0.01, 1.0)
    assert tr["packing"] is False
    assert tr["assistant_only_loss"] is True and tr["remove_unused_columns"] is False
    assert sft["tokenizer"]["padding_side"] == "right"


def test_qwen_dpo_matches_the_seed(qwen):
    runs, out = qwen
    dpo = runs["dpo"]
    lora, tr = dpo["adapter"]["config"], dpo["trainer"]["config"]
    assert dpo["trainer"]["kind"] == "dpo" and dpo["trainer"]["config_class"] == "DPOConfig"
    assert (lora["r"], lora["lora_alpha"], lora["lora_dropout"]) == (32, 64, 0.05)
    assert lora["target_modules"] == SEVEN
    assert tr["learning_rate"] == 5e-6 and tr["warmup_steps"] == 0.1
    assert tr["num_train_epochs"] == 1.0
    assert (tr["per_device_train_batch_size"], tr["gradient_accumulation_steps"]) == (2, 8)
    assert tr["beta"] == 0.1 and tr["loss_type"] == ["sigmoid"]
    assert tr["max_length"] == 4096 and dpo["data"]["max_prompt_length"] == 2048
    assert dpo["precision"]["bf16"] is True and tr["activation_checkpointing"] is True
    assert (tr["weight_decay"], tr["max_grad_norm"]) == (0.01, 1.0)
    assert tr["remove_unused_columns"] is False
    assert dpo["tokenizer"]["padding_side"] == "left"
    assert dpo["adapter"]["sft_adapter"]["path"] == runs["sft"]["output_dir"]
    assert dpo["adapter"]["sft_adapter"]["fallback_to_base"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    by_stage = {r["stage"]: r for r in manifest["runs"]}
    assert by_stage["dpo"]["depends_on"] == [by_stage["sft"]["run_id"]]
    assert [r["stage"] for r in manifest["runs"]] == ["sft", "dpo"]


def test_two_dpo_rounds_chain_their_adapters(write_spec, tmp_path):
    spec = write_spec("""
        base_model: peftc:tiny-llama
        profile: none
        stages:
          round2:
            rl: dpo
            sft_adapter: ${stages.round1.output_dir}
            datasets: [{path: org/prefs}]
          sft:
            task: alpaca
          round1:
            rl: dpo
            sft_adapter: ${stages.sft.output_dir}
            datasets: [{path: org/prefs}]
        """)
    compiled = compile_spec(spec, tmp_path / "out")
    order = [r.stage for r in compiled.runs]
    assert order == ["sft", "round1", "round2"]  # dependency order, not file order
    out = {r.stage: r.values["output_dir"] for r in compiled.runs}
    r2 = compiled.runs[2]
    assert r2.values["sft_adapter_chain"] == [out["sft"], out["round1"]]
    assert r2.depends_on == [compiled.runs[1].run_id]


def test_sweep_times_stages(write_spec):
    spec = write_spec("""
        base_model: peftc:tiny-llama
        profile: none
        sweep:
          lora_r: [4, 8]
          stages.dpo.rl_beta: [0.1, 0.5]
        stages:
          sft: {task: alpaca}
          dpo: {rl: dpo, sft_adapter: "${stages.sft.output_dir}", datasets: [{path: o/p}]}
        """)
    runs = resolve_spec(spec).runs
    assert len(runs) == 6  # 2 sft runs (rl_beta is a dpo-only axis) + 4 dpo runs
    dpo = [r for r in runs if r.stage == "dpo"]
    assert sorted({r.values["rl_beta"] for r in dpo}) == [0.1, 0.5]
    sft_ids = {r.run_id for r in runs if r.stage == "sft"}
    assert len(sft_ids) == 2  # rl_beta only reaches the dpo stage: sft runs repeat per point
    assert all(r.depends_on[0] in sft_ids for r in dpo)


@pytest.mark.parametrize("stages,code", [
    ("a: {sft_adapter: '${stages.b.output_dir}'}\n  b: {sft_adapter: '${stages.a.output_dir}'}",
     "E322"),
    ("a: {sft_adapter: '${stages.nope.output_dir}'}", "E321"),
])
def test_bad_stage_references(write_spec, stages, code):
    spec = write_spec(f"base_model: x/y\ntask: alpaca\nstages:\n  {stages}\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    assert exc.value.diagnostics[0].code == code


def test_missing_sft_adapter_is_a_compile_error_unless_fallback(write_spec):
    spec = write_spec("base_model: x/llama\nrl: dpo\nsft_adapter: ./nowhere\n"
                      "datasets: [{path: o/p}]\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    [d] = exc.value.diagnostics
    assert d.code == "E208" and d.line == 3
    spec.write_text(spec.read_text() + "sft_adapter_fallback: true\n")
    assert resolve_spec(spec).runs[0].values["sft_adapter"] == "./nowhere"
