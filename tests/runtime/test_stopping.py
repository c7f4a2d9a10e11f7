"""Early stopping, the best checkpoint, the loss watchdog and activation offloading on the tiny
model: the run stops at the step the evaluations and losses say, and says why."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import make_run, read_run
from helpers import metrics, status
from safetensors.torch import load_file

from peftc.runtime.run import EXIT_FAILED, execute


def evaluated_run(tmp_path: Path, **trainer) -> Path:
    config = {"eval_strategy": "steps", "eval_steps": 1, "save_strategy": "steps",
              "save_steps": 1, "save_total_limit": 30, "load_best_model_at_end": True,
              "metric_for_best_model": "eval_loss", "max_steps": 14,
              "per_device_eval_batch_size": 8, "learning_rate": 0.05}
    return make_run(tmp_path, data={"val_set_size": 0.1},
                    trainer={"config": config, **trainer})


def stop_step(evals: list[dict], patience: int) -> int | None:
    """Where transformers' EarlyStoppingCallback stops: ``patience`` evaluations in a row
    without a lower eval_loss than the best so far."""
    best, worse = float("inf"), 0
    for e in evals:
        best, worse = (e["eval_loss"], 0) if e["eval_loss"] < best else (best, worse + 1)
        if worse >= patience:
            return e["step"]
    return None


def test_early_stopping_stops_at_the_expected_step_with_the_best_adapter(tmp_path):
    run_dir = evaluated_run(tmp_path, early_stopping_patience=2)
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    run = read_run(run_dir)
    m = metrics(run)
    expected = stop_step(m["eval_loss"], 2)
    assert expected is not None and expected < 14, m["eval_loss"]  # the rate overshoots
    assert m["global_step"] == expected
    best = min(m["eval_loss"], key=lambda e: e["eval_loss"])
    assert m["best"] == {"checkpoint": str(Path(run["output_dir"]) / f"checkpoint-{best['step']}"),
                         "metric": "eval_loss", "value": best["eval_loss"],
                         "stopped_early": True}
    # the saved adapter is the best checkpoint's, not the last step's
    out = Path(run["output_dir"])
    saved = load_file(out / "adapter_model.safetensors")
    kept = load_file(out / f"checkpoint-{best['step']}" / "adapter_model.safetensors")
    last = load_file(out / f"checkpoint-{expected}" / "adapter_model.safetensors")
    assert all(torch.equal(saved[k], kept[k]) for k in saved)
    assert not all(torch.equal(saved[k], last[k]) for k in saved)


def test_the_loss_watchdog_fails_the_run_after_its_patience(tmp_path, capsys):
    run_dir = make_run(tmp_path, trainer={"loss_watchdog": {"threshold": 0.01, "patience": 2},
                                          "config": {"max_steps": 10, "logging_steps": 2}})
    outcome = execute(run_dir)
    assert outcome.exit_code == EXIT_FAILED
    # each logged loss counts once: steps 2 and 4 (Axolotl's would stop at step 3)
    error = status(read_run(run_dir))["error"]
    assert error.startswith("loss stayed above loss_watchdog_threshold 0.01 for 2 logged "
                            "losses in a row") and "stopped at step 4" in error, error
    assert "training stopped at step 4" in capsys.readouterr().err


def test_activation_offloading_is_resolved_off_without_a_gpu(tmp_path, capsys):
    run_dir = make_run(tmp_path, model={"gradient_checkpointing": True},
                       trainer={"config": {"max_steps": 1, "activation_offloading": True}})
    assert execute(run_dir).exit_code == 0
    assert metrics(read_run(run_dir))["activation_offloading"] is False
    assert "activation_offloading: no GPU here" in capsys.readouterr().out
