"""Real multi-process runs on CPU through `peftc launch`: gloo DDP and DeepSpeed ZeRO-2.

`accelerate launch --cpu --num_processes 2` silently runs ONE process; these tests assert the
world size the trainer really saw (metrics.json), not the flag that was passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = f"""
base_model: peftc:tiny-llama
profile: none
lora_r: 8
lora_alpha: 16
lora_dropout: 0.0
datasets: [{{path: {ROOT / "examples" / "data" / "alpaca.jsonl"}, type: alpaca}}]
sequence_len: 128
micro_batch_size: 4
global_batch_size: 8
max_steps: 6
learning_rate: 1.0e-3
logging_steps: 1
lr_scheduler: constant
"""


def launch(tmp_path: Path, name: str, extra: str, command: str = "launch",
           flags: tuple[str, ...] = ()) -> tuple[dict, str]:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(SPEC + extra)
    args = [sys.executable, "-m", "peftc", command, str(spec), "-o", str(tmp_path / name),
            *flags]
    if command == "launch":
        args.append("--cpu")
    proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    [run_dir] = (tmp_path / name / "runs").iterdir()
    return json.loads((run_dir / "output" / "metrics.json").read_text()), proc.stderr


def losses(metrics: dict) -> list[float]:
    return [p["loss"] for p in metrics["loss"]]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    metrics, _ = launch(tmp_path_factory.mktemp("single"), "single", "num_gpus: 1\n", "run")
    assert metrics["world_size"] == 1 and metrics["gradient_accumulation_steps"] == 2
    return metrics


def test_two_process_ddp_matches_one_process(tmp_path, single):
    metrics, err = launch(tmp_path, "ddp", "num_gpus: 2\n")
    assert metrics["world_size"] == 2  # really two processes, not a silent single one
    assert metrics["gradient_accumulation_steps"] == 1  # 8 = 4 micro x 1 accum x 2 ranks
    assert "--num_processes 2" in metrics["launch_command"]
    assert losses(metrics) == pytest.approx(losses(single), rel=1e-2)


def test_an_allowed_world_size_change_trains_the_same_global_batch(tmp_path, single):
    metrics, err = launch(tmp_path, "shrunk", "num_gpus: 2\n", flags=(
        "--num-processes", "1", "--allow-world-size-change"))
    assert "world size 2 -> 1" in err
    assert metrics["world_size"] == 1 and metrics["gradient_accumulation_steps"] == 2
    assert losses(metrics) == pytest.approx(losses(single), rel=1e-2)


def test_two_process_deepspeed_zero2(tmp_path, single):
    pytest.importorskip("deepspeed")
    metrics, _ = launch(tmp_path, "zero2", "num_gpus: 2\ndeepspeed: zero2\n")
    assert metrics["world_size"] == 2
    assert losses(metrics) == pytest.approx(losses(single), rel=1e-2)
    [run_dir] = (tmp_path / "zero2" / "runs").iterdir()
    output = run_dir / "output"
    assert json.loads((output / "status.json").read_text())["status"] == "completed"
    assert (output / "adapter_model.safetensors").exists()


def test_a_failed_launch_marks_the_run_failed(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC + "num_gpus: 2\nfp16: true\n")  # fp16 cannot run on a CPU
    proc = subprocess.run([sys.executable, "-m", "peftc", "launch", str(spec), "--cpu", "-o",
                           str(tmp_path / "bad")], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    [run_dir] = (tmp_path / "bad" / "runs").iterdir()
    status = json.loads((run_dir / "output" / "status.json").read_text())
    assert status["status"] == "failed" and "fp16" in status["error"]


def _failed(tmp_path: Path, name: str, command: list[str]) -> tuple[dict, str]:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(SPEC + "num_gpus: 2\n")
    proc = subprocess.run([sys.executable, "-m", "peftc", *command, str(spec), "-o",
                           str(tmp_path / name)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 1, proc.stderr[-4000:]
    [run_dir] = (tmp_path / name / "runs").iterdir()
    assert not (run_dir / "output" / "metrics.json").exists()  # stopped before training
    return json.loads((run_dir / "output" / "status.json").read_text()), proc.stderr


def test_launch_without_gpus_and_without_cpu_flag_fails_instead_of_training_one_process(
        tmp_path):
    # accelerate starts ONE process here (no GPU, no --cpu): the run must not train on it
    status, err = _failed(tmp_path, "nogpu", ["launch"])
    assert status["status"] == "failed"
    assert "compiled for 2 process(es) but its trainer has world size 1 on cpu" in \
        status["error"]
    assert "E605" in err and "peftc launch --cpu" in err


def test_run_by_hand_with_another_world_size_fails(tmp_path):
    status, err = _failed(tmp_path, "byhand", ["run"])
    assert status["status"] == "failed" and "--set num_gpus=1" in status["error"]
