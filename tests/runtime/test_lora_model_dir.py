"""lora_model_dir on the tiny model: a trained adapter is loaded with its own rank and trained
further; the compiled run records the adapter's values and warns where the spec differs."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from conftest import DATA, make_run, read_run
from safetensors.torch import load_file

from peftc.compiler import compile_spec
from peftc.runtime.run import execute

SPEC = """
base_model: peftc:tiny-llama
profile: none
datasets: [{path: DATA/alpaca.jsonl, type: alpaca}]
sequence_len: 128
max_steps: 3
micro_batch_size: 2
learning_rate: 0.002
adapter: lora
lora_r: 8
lora_model_dir: ADAPTER
"""


def spec_text(adapter: Path) -> str:
    return SPEC.replace("DATA", str(DATA)).replace("ADAPTER", str(adapter))


def test_an_adapter_goes_on_training_with_its_own_rank(tmp_path):
    first = make_run(tmp_path, "first", adapter={"config": {"r": 4, "lora_alpha": 8}})
    assert execute(first).exit_code == 0
    trained = Path(read_run(first)["output_dir"])

    spec = tmp_path / "again.yaml"
    spec.write_text(spec_text(trained))
    compiled = compile_spec(spec, tmp_path / "out")
    [warning] = [w for w in compiled.warnings if w.code == "W209"]
    assert warning.message.startswith("lora_r 8 is not the adapter's: lora_model_dir's "
                                      "adapter_config.json has r 4") and warning.line == 10
    run_dir = tmp_path / "out" / "runs" / compiled.runs[0].run_id
    run = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert run["adapter"]["from_adapter"] == str(trained)
    assert (run["adapter"]["config"]["r"], run["adapter"]["config"]["lora_alpha"]) == (4, 8)
    provenance = (run_dir / "provenance.json").read_text()
    assert "lora_model_dir's adapter_config.json" in provenance

    assert execute(run_dir).exit_code == 0
    before = load_file(trained / "adapter_model.safetensors")
    after = load_file(Path(run["output_dir"]) / "adapter_model.safetensors")
    assert sorted(after) == sorted(before)
    for name, value in after.items():
        assert value.shape == before[name].shape  # rank 4, the adapter's own
    lora_b = [n for n in after if "lora_B" in n]
    # trained further: changed, and from the loaded weights (a fresh lora_B starts at zero and
    # would be far from the first run's after three steps)
    assert any(not torch.equal(after[n], before[n]) for n in after)
    moved = sum((after[n] - before[n]).norm() for n in lora_b)
    assert moved < sum(before[n].norm() for n in lora_b)


def test_with_dpo_the_adapter_is_merged_before_a_fresh_one(tmp_path):
    adapter = tmp_path / "sft-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4}')
    spec = tmp_path / "dpo.yaml"
    spec.write_text(spec_text(adapter).replace("alpaca.jsonl", "preference.jsonl")
                    .replace("type: alpaca", "type: preference") + "rl: dpo\n")
    compiled = compile_spec(spec, tmp_path / "out")
    assert not [w for w in compiled.warnings if w.code == "W209"]  # r 8 is the fresh adapter's
    run = yaml.safe_load((tmp_path / "out" / "runs" / compiled.runs[0].run_id / "run.yaml")
                         .read_text())["adapter"]
    assert run["from_adapter"] is None and run["config"]["r"] == 8
    assert run["sft_adapter"]["chain"] == [str(adapter)]
