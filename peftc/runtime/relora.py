"""ReLoRA as Axolotl 0.18 runs it (``axolotl/monkeypatch/relora.py``, ``utils/schedulers.py``).

- Restarts (``adapter.relora``): every ``steps`` optimizer steps, merge the LoRA adapter into
  the base weights, re-initialise it, and prune its optimizer state: ``magnitude`` zeroes the
  ``prune_ratio`` smallest values of each Adam moment, ``random`` a random share, ``reset`` is
  random at 0.999. Because restarts live in the base weights, the merged targeted weights are
  saved next to the adapter (``relora_base_weights.safetensors``, in the output folder and in
  every checkpoint) and loaded back on resume and by ``merge``.
- The jagged schedule (``trainer.jagged_lr``, also without restarts, as in Axolotl): the
  scheduler's rate times a scale that re-warms over ``warmup_steps`` after each restart and
  anneals over the ``anneal_steps`` before the next, never below ``min_lr_scale``.

Hand-written: neither PEFT, TRL nor transformers implement ReLoRA.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from peftc.runtime.adapter import load_base_tensors
from peftc.runtime.errors import RuntimeConfigError

log = logging.getLogger("peftc.runtime")

BASE_WEIGHTS = "relora_base_weights.safetensors"


def _lora_layers(model: Any) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def restart(model: Any, optimizer: Any, prune_method: str, prune_ratio: float,
            adapter_name: str = "default") -> None:
    """Merge the adapter into the base weights, re-initialise it, prune its optimizer state."""
    for _, layer in _lora_layers(model):
        if adapter_name not in layer.lora_A:
            continue
        layer.merge(adapter_names=[adapter_name])
        # The delta now lives in the base weight for good: forget it was "merged" so the adapter
        # keeps running on top of it, then start the adapter again from its initial state.
        layer.merged_adapters = [a for a in layer.merged_adapters if a != adapter_name]
        layer.reset_lora_parameters(adapter_name, init_lora_weights=True)
    lora = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    prune_optimizer_state(optimizer, lora, prune_method, prune_ratio)


# Adam's moments, and bitsandbytes' names of them in its 8-bit optimizers
MOMENTS = ("exp_avg", "exp_avg_sq", "state1", "state2")


def prune_optimizer_state(optimizer: Any, params: list[Any], method: str, ratio: float) -> None:
    """Zero ``ratio`` of each moment of ``params`` in place: the smallest by magnitude, or at
    random (``random``, ``reset``)."""
    import torch

    inner = getattr(optimizer, "optimizer", optimizer)
    with torch.no_grad():
        for param in params:
            for key in MOMENTS:
                value = inner.state.get(param, {}).get(key)
                if not torch.is_tensor(value) or value.numel() == 0:
                    continue
                if method == "magnitude":
                    keep = value.abs() > _quantile(value.abs().flatten().float(), ratio)
                else:
                    keep = torch.rand(value.shape, device=value.device) > ratio
                value.mul_(keep.to(value.dtype))


def _quantile(values: Any, q: float) -> Any:
    """``torch.quantile``, which refuses tensors of more than 2**24 values; for those the
    nearest rank (Axolotl skips pruning them instead)."""
    import torch

    if values.numel() <= 2 ** 24:
        return torch.quantile(values, q)
    k = min(values.numel(), max(1, round(q * (values.numel() - 1)) + 1))
    return values.kthvalue(k).values


@dataclass(frozen=True)
class JaggedScale:
    """Axolotl's ``JaggedLRRestartScheduler`` factor at a step (a class, so that the scheduler
    still pickles into each checkpoint)."""

    steps: int
    warmup_steps: int
    anneal_steps: int
    min_lr_scale: float

    def __call__(self, step: int) -> float:
        if step < self.steps - self.anneal_steps:
            return 1.0
        progress = step % self.steps
        if progress < self.warmup_steps:
            t = min(1.0, progress / self.warmup_steps)
        elif progress > self.steps - self.anneal_steps:
            t = min(1.0, (self.steps - progress) / self.anneal_steps)
        else:
            t = 1.0
        return t * (1 - self.min_lr_scale) + self.min_lr_scale


@dataclass(frozen=True)
class Scaled:
    """A ``LambdaLR`` factor times the jagged scale."""

    inner: Any
    scale: JaggedScale

    def __call__(self, step: int) -> float:
        return self.inner(step) * self.scale(step)


def jagged_schedule(trainer: Any, section: dict[str, Any]) -> None:
    """Make the scheduler ``trainer`` creates follow the jagged schedule of ``section``."""
    from torch.optim.lr_scheduler import LambdaLR

    scale = JaggedScale(int(section["steps"]), int(section["warmup_steps"]),
                        int(section["anneal_steps"]), float(section["min_lr_scale"]))
    create = trainer.create_scheduler

    def create_scheduler(num_training_steps: int, optimizer: Any = None) -> Any:
        fresh = trainer.lr_scheduler is None
        scheduler = create(num_training_steps, optimizer)
        if fresh:
            if not isinstance(scheduler, LambdaLR):
                raise RuntimeConfigError(
                    f"trainer.jagged_lr: lr_scheduler {trainer.args.lr_scheduler_type!r} cannot "
                    "take jagged restarts; use cosine, linear or constant")
            scheduler.lr_lambdas = [Scaled(f, scale) for f in scheduler.lr_lambdas]
            step = scheduler.last_epoch
            lrs = [base * f(step) for base, f in zip(scheduler.base_lrs, scheduler.lr_lambdas,
                                                     strict=True)]
            for group, lr in zip(scheduler.optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
            scheduler._last_lr = lrs
        return scheduler

    trainer.create_scheduler = create_scheduler


def base_weight_key(module_name: str) -> str:
    """``base_model.model.model.layers.0.q_proj`` -> ``model.layers.0.q_proj.weight``."""
    prefix = "base_model.model."
    name = module_name[len(prefix):] if module_name.startswith(prefix) else module_name
    return f"{name}.weight"


def save_base_weights(model: Any, folder: Path) -> None:
    """Save the targeted base weights (where the restarts were merged) under base-model names."""
    from safetensors.torch import save_file

    tensors = {
        base_weight_key(name): layer.get_base_layer().weight.detach().contiguous().cpu()
        for name, layer in _lora_layers(model)
    }
    save_file(tensors, str(folder / BASE_WEIGHTS))


def load_base_weights(model: Any, folder: Path) -> bool:
    """Load saved restart weights into a base (or PEFT-wrapped) model; False when none saved."""
    return load_base_tensors(model, Path(folder) / BASE_WEIGHTS)


class ReLoraCallback(TrainerCallback):
    """Restart the LoRA adapter every ``steps`` steps (not after the last one)."""

    def __init__(self, steps: int, prune_method: str, prune_ratio: float) -> None:
        self.steps = int(steps)
        self.prune_method = prune_method
        self.prune_ratio = float(prune_ratio)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None,
                    optimizer: Any = None, **kw: Any):
        step = state.global_step
        if step % self.steps == 0 and step < state.max_steps:
            restart(model, optimizer, self.prune_method, self.prune_ratio)
            log.info("relora: restart at step %d (adapter merged, re-initialised, optimizer "
                     "state pruned: %s %.3f)", step, self.prune_method, self.prune_ratio)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                save_base_weights(model, folder)
