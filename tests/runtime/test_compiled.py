"""Compiler and runtime together: compiled runs train, and every emitted key is accepted."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from peftc.compiler import compile_spec
from peftc.vocab.methods import NAMES as ADAPTERS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

SPEC = """
base_model: peftc:tiny-llama
profile: none
adapter: {adapter}
datasets: [{{path: {data}, type: alpaca}}]
sequence_len: 128
max_steps: 4
micro_batch_size: 2
{extra}
"""


def compiled_run(tmp_path: Path, adapter: str, extra: str = "", rl: bool = False) -> dict:
    data = EXAMPLES / "data" / ("preference.jsonl" if rl else "alpaca.jsonl")
    spec = tmp_path / f"{adapter}.yaml"
    text = SPEC.format(adapter=adapter, data=data, extra=extra)
    if rl:
        text = text.replace("type: alpaca", "type: preference") + "rl: dpo\n"
    spec.write_text(text)
    compiled = compile_spec(spec, tmp_path / f"out-{adapter}-{rl}")
    run_dir = tmp_path / f"out-{adapter}-{rl}" / "runs" / compiled.runs[0].run_id
    return yaml.safe_load((run_dir / "run.yaml").read_text())


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("rl", [False, True], ids=["sft", "dpo"])
def test_every_emitted_key_is_accepted(tmp_path, adapter, rl):
    """A library rename (TRL's max_seq_length -> max_length was one) fails here first."""
    from transformers import BitsAndBytesConfig

    from peftc.runtime import precision
    from peftc.runtime.adapter import peft_config
    from peftc.runtime.trainer import training_args

    run = compiled_run(tmp_path, adapter, "bf16: true\nload_in_8bit: true\n"
                       if adapter == "lora" else "", rl)
    cfg = peft_config(run["adapter"])  # the class named by peft_class, all keys as kwargs
    assert type(cfg).__name__ == run["adapter"]["peft_class"]
    args = training_args(run["trainer"], run["model"], precision.resolve(run["precision"]))
    assert type(args).__name__ == run["trainer"]["config_class"]
    for key, value in run["trainer"]["config"].items():
        assert hasattr(args, key), key
        if key not in ("gradient_accumulation_steps", "loss_type", "lr_scheduler_type",
                       "optim", "eval_strategy", "save_strategy", "report_to",
                       "lr_scheduler_kwargs", "use_cpu"):
            assert getattr(args, key) == value, key
    if run["quantization"]:
        accepted = inspect.signature(BitsAndBytesConfig).parameters
        assert set(run["quantization"]) <= set(accepted)


def test_quickstart_trains_and_reruns_nothing(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "peftc", "run", str(EXAMPLES / "quickstart.yaml"), "-o",
           str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    [run_dir] = (out / "runs").iterdir()
    output = run_dir / "output"
    metrics = json.loads((output / "metrics.json").read_text())
    losses = [p["loss"] for p in metrics["loss"]]
    assert losses[-1] < losses[0] - 0.5, losses
    assert json.loads((output / "status.json").read_text())["status"] == "completed"
    assert (output / "adapter_model.safetensors").exists()
    assert "final loss" in first.stdout.lower()
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert second.returncode == 0 and "already completed" in second.stderr


def test_tiny_pipeline_sft_then_dpo(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from peftc.runtime.tiny_model import resolve_model_path

    out = tmp_path / "pipe"
    cmd = [sys.executable, "-m", "peftc", "run", str(EXAMPLES / "pipelines" /
                                                      "tiny-sft-dpo.yaml"), "--all", "-o", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    sft, dpo = manifest["runs"]
    assert (sft["stage"], dpo["stage"]) == ("sft", "dpo")
    assert f"sft_adapter: merged {sft['output_dir']} into the base model" in first.stdout
    metrics = json.loads((Path(dpo["output_dir"]) / "metrics.json").read_text())
    assert any("rewards/margins" in r for r in metrics["rewards"])
    assert (Path(dpo["output_dir"]) / "samples.jsonl").exists()
    base = AutoModelForCausalLM.from_pretrained(resolve_model_path("peftc:tiny-llama"))
    for entry in (sft, dpo):
        PeftModel.from_pretrained(base, entry["output_dir"])  # both adapters reload
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.returncode == 0
    assert again.stderr.count("already completed") == 2 and "training" not in again.stderr
    shutil.rmtree(dpo["output_dir"])
    third = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert third.returncode == 0
    assert f"{sft['run_id']} already completed" in third.stderr
    assert f"training {dpo['run_id']}" in third.stderr

