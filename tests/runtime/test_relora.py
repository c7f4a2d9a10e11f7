"""ReLoRA as Axolotl runs it: the jagged learning-rate schedule, and the optimizer state a
restart prunes, on the tiny model."""

from __future__ import annotations

import pytest
import torch
from conftest import make_run, read_run

from peftc.runtime.relora import JaggedScale, prune_optimizer_state
from peftc.runtime.run import execute
from tests.runtime.helpers import metrics


def test_jagged_scale_is_axolotls():
    """Axolotl's JaggedLRRestartScheduler factors for 10-step restarts, warmup 4, anneal 3."""
    scale = JaggedScale(steps=10, warmup_steps=4, anneal_steps=3, min_lr_scale=0.001)
    assert [round(scale(s), 4) for s in range(0, 21)] == [
        1, 1, 1, 1, 1, 1, 1,  # the first cycle runs at the scheduler's rate until the anneal
        1.0, 0.6670, 0.3340,  # 8, 9: annealing towards the restart
        0.001, 0.2507, 0.5005, 0.7502,  # 10-13: re-warming from the floor
        1, 1, 1, 1.0, 0.6670, 0.3340, 0.001]


def test_magnitude_pruning_keeps_the_largest_tenth():
    param = torch.nn.Parameter(torch.zeros(1000))
    optimizer = torch.optim.AdamW([param])
    moment = torch.arange(1, 1001, dtype=torch.float32)
    optimizer.state[param] = {"exp_avg": moment.clone(), "exp_avg_sq": -moment.clone(),
                              "step": torch.tensor(3.0)}
    prune_optimizer_state(optimizer, [param], "magnitude", 0.9)
    state = optimizer.state[param]
    assert torch.equal(state["exp_avg"] != 0, moment > 900.1)
    assert torch.equal(state["exp_avg_sq"] != 0, moment > 900.1)
    assert state["step"] == 3  # only the moments


def test_restarts_follow_the_jagged_schedule(tmp_path):
    run_dir = make_run(
        tmp_path,
        adapter={"method": "lora", "relora": {"steps": 3, "prune_method": "reset",
                                              "prune_ratio": 0.999}},
        trainer={"config": {"max_steps": 8, "lr_scheduler_type": "constant"},
                 "jagged_lr": {"steps": 3, "warmup_steps": 2, "anneal_steps": 1,
                               "min_lr_scale": 0.001}},
    )
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    scale = JaggedScale(3, 2, 1, 0.001)
    logged = [row["learning_rate"] for row in metrics(read_run(run_dir))["learning_rate"]]
    # the rate logged at step s is the one step s trained with: scale(s - 1) x 0.002
    assert logged == pytest.approx([0.002 * scale(s) for s in range(8)], rel=1e-6)
