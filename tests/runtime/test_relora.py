"""ReLoRA as Axolotl runs it: the jagged learning-rate schedule, and the optimizer state a
restart prunes, on the tiny model."""

from __future__ import annotations

import copy

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


QUANTIZED = {"4bit": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                      "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "float32"},
             "8bit": {"load_in_8bit": True}}


@pytest.mark.parametrize("bits", list(QUANTIZED))
def test_restarts_on_a_quantized_base_accumulate_in_full_precision(tmp_path, bits):
    """Each restart adds the adapter's rank-r delta to a full-precision copy of the targeted
    weights, which the model trains on quantized again: after one restart the saved weights
    are the checkpoint's plus a delta of rank r exactly, not rounded onto the 4/8-bit grid."""
    from pathlib import Path

    from safetensors.torch import load_file

    from peftc.runtime.relora import BASE_WEIGHTS, requantize
    from tests.runtime.helpers import load_base

    run_dir = make_run(
        tmp_path, quantization=QUANTIZED[bits],
        adapter={"method": "qlora", "prepare_kbit": True,
                 "relora": {"steps": 2, "prune_method": "magnitude", "prune_ratio": 0.9}},
        trainer={"config": {"max_steps": 3, "learning_rate": 0.01}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    run = read_run(run_dir)
    saved = load_file(str(Path(run["output_dir"]) / BASE_WEIGHTS))
    original = dict(load_base({**run, "quantization": None}).named_parameters())
    quantized = {name: module for name, module in load_base(run).named_modules()
                 if hasattr(module, "weight")}
    dequantize_original = {key: dequantize(quantized[key.removesuffix(".weight")])
                           for key in saved}
    assert len(saved) == 2 * 7  # every targeted module of the two layers
    layers = {name.removeprefix("base_model.model.") + ".weight": module for name, module
              in outcome.trainer.model.named_modules() if hasattr(module, "lora_A")}
    for key, weight in saved.items():
        delta = weight.float() - original[key].float()
        assert delta.abs().max() > 1e-3, key
        # rank 8 (lora_r) up to the bf16 rounding of TRL's LoRA weights on a quantized base;
        # merged into the 4/8-bit weights, the rounding would swamp it
        singular = torch.linalg.svdvals(delta)
        assert singular[8] < 0.02 * singular[0], (key, singular[:10])
        # the model trains on the merged weights, quantized again
        base = layers[key].get_base_layer()
        probe = copy.deepcopy(base)
        requantize(probe, weight)
        assert torch.equal(dequantize(base), dequantize(probe)), key
        assert not torch.equal(dequantize(base), dequantize_original[key]), key


def dequantize(module):
    from peft.utils.integrations import dequantize_bnb_weight

    return dequantize_bnb_weight(module.weight, state=getattr(module, "state", None))
