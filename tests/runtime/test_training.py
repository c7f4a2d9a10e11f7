"""Training behaviour: metrics/status files, loss curve, NaN stop, interrupt + resume, samples,
chat-template masking, merge."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import dataset_entry, make_run, read_run
from helpers import logits, metrics, probe_inputs, reload_adapter, status

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.merge import merge
from peftc.runtime.run import execute, run

pytestmark = pytest.mark.train


def test_metrics_status_and_loss_falls(tmp_path):
    run_dir = make_run(tmp_path, trainer={"config": {
        "max_steps": 30, "learning_rate": 0.01, "per_device_train_batch_size": 8}},
        adapter={"config": {"r": 16, "lora_alpha": 32}})
    assert run(run_dir) == 0
    spec = read_run(run_dir)
    out = Path(spec["output_dir"])
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                 "run.yaml", "metrics.json", "status.json"):
        assert (out / name).exists(), name
    assert (out / "run.yaml").read_text() == (run_dir / "run.yaml").read_text()
    st = status(spec)
    assert st["status"] == "completed" and st["last_step"] == 30 and st["error"] is None
    m = metrics(spec)
    assert [p["step"] for p in m["loss"]] == list(range(1, 31))
    assert len(m["learning_rate"]) == 30
    assert m["tokens_per_second"] > 0 and m["tokens_seen"] > 0
    assert m["world_size"] == 1 and m["peak_memory_mb"] > 0 and m["wall_time_seconds"] > 0
    assert 0 < m["trainable_parameters"] < m["total_parameters"]
    first = sum(p["loss"] for p in m["loss"][:3]) / 3
    last = sum(p["loss"] for p in m["loss"][-3:]) / 3
    assert last < 0.8 * first, (first, last)


def test_completion_only_masking_without_packing(tmp_path):
    outcome = execute(make_run(tmp_path, trainer={"config": {"max_steps": 2}}))
    tok = outcome.trainer.processing_class
    row = outcome.trainer.train_dataset[0]
    n_masked = next(i for i, label in enumerate(row["labels"]) if label != -100)
    assert tok.decode(row["input_ids"][:n_masked]).endswith("### Response:\n")
    assert row["labels"][n_masked:] == row["input_ids"][n_masked:]


def test_train_on_inputs_trains_on_everything(tmp_path):
    outcome = execute(make_run(tmp_path, data={"train_on_inputs": True},
                               trainer={"config": {"max_steps": 2}}))
    row = outcome.trainer.train_dataset[0]
    assert row["labels"] == row["input_ids"]


def test_nan_loss_stops_with_failed_status(tmp_path):
    run_dir = make_run(tmp_path, trainer={"config": {"max_steps": 6, "learning_rate": 1.0e30}})
    assert run(run_dir) == 1
    st = status(read_run(run_dir))
    assert st["status"] == "failed"
    assert "loss became nan" in st["error"] or "loss became inf" in st["error"]
    assert st["last_step"] < 6


def interrupt_when(status_file: Path, step: int, timeout: float = 60.0) -> threading.Thread:
    """Send SIGINT to this process once status.json reports ``step``."""

    def watch():
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if json.loads(status_file.read_text())["last_step"] >= step:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_interrupt_then_resume_matches_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setattr("peftc.runtime.outputs.STATUS_EVERY_SECONDS", 0.0)  # status every step
    steps = {"trainer": {"config": {"max_steps": 12, "save_steps": 100}}}
    straight = make_run(tmp_path, run_id="straight", **steps)
    assert run(straight) == 0

    resumed = make_run(tmp_path, run_id="resumed", **steps)
    spec = read_run(resumed)
    out = Path(spec["output_dir"])
    watcher = interrupt_when(out / "status.json", 3)
    assert run(resumed) == 130
    watcher.join(5)
    st = status(spec)
    assert st["status"] == "interrupted" and 3 <= st["last_step"] < 12
    assert (out / f"checkpoint-{st['last_step']}").is_dir()
    assert not (out / "adapter_model.safetensors").exists()

    assert run(resumed) == 0
    assert status(spec)["status"] == "completed" and status(spec)["last_step"] == 12
    a, b = reload_adapter(read_run(straight)), reload_adapter(spec)
    from transformers import AutoTokenizer

    inputs = probe_inputs(AutoTokenizer.from_pretrained(spec["output_dir"]))
    assert torch.allclose(logits(a, inputs), logits(b, inputs), atol=1e-4)


def test_samples_written_at_each_evaluation(tmp_path):
    prompt = "### Instruction:\nAdd the two numbers.\n\n### Input:\n2 and 3\n\n### Response:\n"
    run_dir = make_run(
        tmp_path, data={"val_set_size": 8},
        trainer={"config": {"max_steps": 4, "eval_strategy": "steps", "eval_steps": 2,
                            "per_device_eval_batch_size": 4}},
        samples={"prompts": [prompt], "max_new_tokens": 5},
    )
    assert run(run_dir) == 0
    spec = read_run(run_dir)
    lines = (Path(spec["output_dir"]) / "samples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(r["prompt"] == prompt and isinstance(r["completion"], str) for r in rows)
    assert metrics(spec)["eval_loss"]


def test_chat_template_assistant_only_loss(tmp_path):
    outcome = execute(make_run(
        tmp_path, data={"datasets": [dataset_entry("chat.jsonl", "chat_template")]},
        trainer={"config": {"max_steps": 2, "assistant_only_loss": True, "max_length": 128,
                            "completion_only_loss": None}},
    ))
    assert outcome.exit_code == 0
    tok = outcome.trainer.processing_class
    row = outcome.trainer.train_dataset[0]
    trained = tok.decode([t for t in row["labels"] if t != -100])
    assert "<|im_end|>" in trained
    assert "helpful assistant" not in trained and "<|im_start|>" not in trained


def test_merge_gives_a_plain_model_with_the_same_logits(tmp_path):
    run_dir = make_run(tmp_path, trainer={"config": {"max_steps": 3}})
    assert run(run_dir) == 0
    spec = read_run(run_dir)
    merged_dir = merge(run_dir, tmp_path / "merged")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    inputs = probe_inputs(AutoTokenizer.from_pretrained(merged_dir))
    assert torch.allclose(logits(merged, inputs), logits(reload_adapter(spec), inputs), atol=1e-4)
    assert not (Path(merged_dir) / "adapter_config.json").exists()


def test_bf16_on_cpu_runs_with_use_cpu_and_fp16_fails_clearly(tmp_path):
    from peftc.runtime.errors import RuntimeConfigError

    run_dir = make_run(tmp_path, run_id="bf16", precision={"bf16": True, "fp16": False},
                       trainer={"config": {"max_steps": 2}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    if not torch.cuda.is_available():
        assert outcome.trainer.args.use_cpu and outcome.trainer.args.bf16
        assert metrics(read_run(run_dir))["precision"]["dtype"] == "bfloat16"
        with pytest.raises(RuntimeConfigError, match="fp16"):
            run(make_run(tmp_path, run_id="fp16", precision={"bf16": False, "fp16": True}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is fp32 on a CPU only")
def test_auto_precision_is_fp32_on_a_cpu_and_recorded(tmp_path):
    run_dir = make_run(tmp_path, run_id="auto", trainer={"config": {"max_steps": 1}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    args = outcome.trainer.args
    assert not args.bf16 and not args.fp16 and not args.use_cpu
    assert next(outcome.trainer.model.parameters()).dtype == torch.float32
    recorded = metrics(read_run(run_dir))["precision"]
    assert recorded == {"bf16": False, "fp16": False, "tf32": False, "dtype": "float32"}


@pytest.mark.parametrize("cap,ratio,steps", [
    (2, 0.5, 8),  # Axolotl's default warmup is capped: 0.5 of 8 steps would be 4
    (None, 0.5, 5),  # int(2.5) = 2, as Axolotl converts a ratio (transformers: ceil, 3)
    (None, 0.2, 5),  # int(1.0) = 1, which Axolotl makes 2 (transformers: 1)
])
def test_a_warmup_ratio_is_axolotls_step_count(tmp_path, cap, ratio, steps):
    """A ratio of the steps becomes min(int(ratio * steps), cap) steps, 1 made 2: 2 here."""
    run_dir = make_run(tmp_path, run_id="warmup", trainer={
        "max_warmup_steps": cap, "config": {"max_steps": steps, "warmup_steps": ratio,
                                            "lr_scheduler_type": "constant_with_warmup"}})
    assert execute(run_dir).exit_code == 0
    rates = [p["learning_rate"] for p in metrics(read_run(run_dir))["learning_rate"]]
    assert rates[:3] == [0.0, 0.001, 0.002] and rates[-1] == 0.002  # 2 warmup steps, not 4


def test_evaluation_at_start_every_share_and_after_the_final_step(tmp_path):
    """evals_per_epoch compiles to a share of the steps: 0.4 of 5 steps is every 2 steps, a
    baseline before step 1 (Axolotl's eval_on_start), and step 5, which is no multiple of 2."""
    run_dir = make_run(tmp_path, run_id="evals", data={"val_set_size": 0.2}, trainer={
        "config": {"max_steps": 5, "eval_strategy": "steps", "eval_steps": 0.4,
                   "eval_on_start": True}},
        model={"class": "LlamaForCausalLM"}, tokenizer={"class": "AutoTokenizer"})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    assert type(outcome.trainer.model.get_base_model()).__name__ == "LlamaForCausalLM"
    steps = [e["step"] for e in metrics(read_run(run_dir))["eval_loss"]]
    assert steps == [0, 2, 4, 5]


def test_an_unknown_model_class_is_a_clear_error(tmp_path):
    from peftc.runtime.errors import RuntimeConfigError

    with pytest.raises(RuntimeConfigError, match="no class 'LlamaForCausalLMM'"):
        run(make_run(tmp_path, run_id="badclass", model={"class": "LlamaForCausalLMM"}))


def test_precision_in_trainer_config_is_refused_not_overridden(tmp_path):
    from peftc.runtime.errors import RuntimeConfigError

    with pytest.raises(RuntimeConfigError, match="precision section"):
        run(make_run(tmp_path, run_id="stray", trainer={"config": {"bf16": True}}))


def test_resume_from_checkpoint_of_another_run(tmp_path):
    """Axolotl's resume_from_checkpoint: a new run starts from another run's checkpoint."""
    first = make_run(tmp_path, run_id="first",
                     trainer={"config": {"max_steps": 3, "save_steps": 2}})
    assert run(first) == 0
    checkpoint = Path(read_run(first)["output_dir"]) / "checkpoint-2"
    second = make_run(tmp_path, run_id="second", trainer={
        "config": {"max_steps": 3, "save_steps": 2},
        "resume_from_checkpoint": str(checkpoint)})
    outcome = execute(second)
    assert outcome.exit_code == 0
    losses = metrics(read_run(second))["loss"]
    assert [row["step"] for row in losses] == [3]  # steps 1 and 2 came from the checkpoint
    missing = make_run(tmp_path, run_id="missing", trainer={
        "resume_from_checkpoint": str(tmp_path / "nowhere")})
    with pytest.raises(RuntimeConfigError, match="nowhere is not there"):
        run(missing)
