"""Reporting to W&B through transformers' integration, in W&B's offline mode: the run's files
are written beside its outputs, with the run's config; without wandb, a located error."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from peftc.compiler import compile_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = f"""base_model: peftc:tiny-llama
datasets: [{{path: {ROOT / "examples" / "data" / "alpaca.jsonl"}, type: alpaca}}]
sequence_len: 128
max_steps: 3
logging_steps: 1
micro_batch_size: 2
wandb_project: peftc-tests
wandb_mode: offline
"""


def compiled(tmp_path: Path, extra: str = "") -> list[Path]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + extra)
    result = compile_spec(spec, tmp_path / "out")
    return [tmp_path / "out" / "runs" / run.run_id for run in result.runs]


def test_each_run_of_a_sweep_writes_its_own_offline_wandb_run(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    run_dirs = compiled(tmp_path, "wandb_watch: gradients\nsweep: {learning_rate: [2e-4, 1e-3]}\n")
    code, _, err = cli("run", tmp_path / "spec.yaml", "-o", tmp_path / "out", "--all")
    assert code == 0, err
    for run_dir in run_dirs:
        check_wandb_files(run_dir)


def check_wandb_files(run_dir: Path) -> None:
    output = Path(yaml.safe_load((run_dir / "run.yaml").read_text())["output_dir"])
    [wandb_run] = (output / "wandb").glob("offline-run-*")
    files = wandb_run / "files"
    # the compiled config travels with the W&B run, byte for byte
    assert (files / "run.yaml").read_text() == (run_dir / "run.yaml").read_text()
    assert json.loads((files / "provenance.json").read_text())["wandb_project"]["value"] == \
        "peftc-tests"
    # the run's transaction log (what `wandb sync` uploads) holds its project, name, config
    # and curves; wandb 0.31 ships no reader for it, so its records are found by their keys
    [log] = wandb_run.glob("run-*.wandb")
    records = log.read_bytes()
    assert b"peftc-tests" in records and run_dir.name.encode() in records
    assert records.count(b"train/loss") >= 3 and b"learning_rate" in records
    # the settings left the environment as it was
    assert "WANDB_PROJECT" not in os.environ and "WANDB_MODE" not in os.environ


def test_without_wandb_the_run_stops_before_the_model_loads(tmp_path, cli, monkeypatch):
    [run_dir] = compiled(tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)  # how Python spells "not installed"
    code, _, err = cli("run", run_dir)
    assert code != 0
    assert f"{tmp_path / 'spec.yaml'}:7:16: E608 error:" in err
    assert "pip install 'peftc[wandb]'" in err
    output = Path(yaml.safe_load((run_dir / "run.yaml").read_text())["output_dir"])
    assert json.loads((output / "status.json").read_text())["status"] == "failed"
    assert not list(output.glob("checkpoint-*"))
