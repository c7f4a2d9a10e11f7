"""ReLoRA as Axolotl 0.18 runs it (``axolotl/monkeypatch/relora.py``, ``utils/schedulers.py``).

- Restarts (``adapter.relora``): every ``steps`` optimizer steps, merge the LoRA adapter into
  the base weights, re-initialise it, and prune its optimizer state: ``magnitude`` zeroes the
  ``prune_ratio`` smallest values of each Adam moment, ``random`` a random share, ``reset`` is
  random at 0.999. Because restarts live in the base weights, the merged targeted weights are
  saved next to the adapter (``relora_base_weights.safetensors``, in the output folder and in
  every checkpoint) and loaded back on resume and by ``merge``.
- On a 4/8-bit base the restarts go into a full-precision copy of the targeted weights, read
  from the unquantized checkpoint at the start (:func:`full_precision_base`) and kept in CPU
  memory, and each merged weight is quantized again into the model, as Axolotl keeps its copy
  on disk. Merging into the quantized weights themselves (PEFT's ``merge``) would round each
  restart's delta onto the 4/8-bit grid, losing most of it. The copy is what is saved.
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

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.model import copy_base_tensors

log = logging.getLogger("peftc.runtime")

BASE_WEIGHTS = "relora_base_weights.safetensors"


def _lora_layers(model: Any) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def restart(model: Any, optimizer: Any, prune_method: str, prune_ratio: float,
            adapter_name: str = "default", full: dict[str, Any] | None = None) -> None:
    """Merge the adapter into the base weights (into ``full``, the full-precision copy of a
    quantized base's, when given), re-initialise it, prune its optimizer state."""
    for name, layer in _lora_layers(model):
        if adapter_name not in layer.lora_A:
            continue
        if full is None:
            layer.merge(adapter_names=[adapter_name])
            # The delta now lives in the base weight for good: forget it was "merged" so the
            # adapter keeps running on top of it.
            layer.merged_adapters = [a for a in layer.merged_adapters if a != adapter_name]
        else:
            key = base_weight_key(name)
            delta = layer.get_delta_weight(adapter_name).detach().float().cpu()
            full[key] = (full[key].float() + delta).to(full[key].dtype)
            requantize(layer.get_base_layer(), full[key])
        layer.reset_lora_parameters(adapter_name, init_lora_weights=True)  # start it again
    lora = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    prune_optimizer_state(optimizer, lora, prune_method, prune_ratio)


def is_quantized(module: Any) -> bool:
    """Whether ``module``'s weight is a bitsandbytes 4- or 8-bit parameter."""
    return type(getattr(module, "weight", None)).__name__ in ("Params4bit", "Int8Params")


def requantize(module: Any, weight: Any) -> None:
    """Quantize ``weight`` into the bitsandbytes linear ``module``, with its quantization
    settings: what PEFT's 4/8-bit ``merge`` does with a merged weight (peft/tuners/lora/bnb.py),
    which has no function of its own."""
    import bitsandbytes as bnb

    old = module.weight
    if isinstance(old, bnb.nn.Params4bit):
        kwargs = {k: v for k, v in old.__dict__.items() if not k.startswith("_") and k != "data"}
        kwargs.update(bnb_quantized=False, requires_grad=False)
        module.weight = bnb.nn.Params4bit(weight.to("cpu"), **kwargs).to(old.device)
    else:
        module.weight = bnb.nn.Int8Params(weight.to("cpu"), requires_grad=False,
                                          has_fp16_weights=old.has_fp16_weights).to(old.device)


def full_precision_base(model: Any, model_section: dict[str, Any], dtype: str,
                        tokenizer: Any) -> dict[str, Any]:
    """The LoRA-targeted weights of a quantized ``model``, unquantized, from its checkpoint
    (loaded by transformers in ``dtype``, on CPU), by base-model name."""
    from peftc.runtime.model import load_base

    keys = [base_weight_key(name) for name, _ in _lora_layers(model)]
    unquantized = load_base(model_section, dtype, tokenizer)
    named = dict(unquantized.named_parameters())
    full = {key: named[key].detach().cpu().clone() for key in keys}
    del unquantized, named
    return full


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
                    "take jagged restarts; use cosine, linear or constant",
                    code="E601", field="trainer.jagged_lr")
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


def save_base_weights(model: Any, folder: Path, full: dict[str, Any] | None = None) -> None:
    """Save the targeted base weights (where the restarts were merged) under base-model names:
    ``full`` for a quantized base, else the model's own."""
    from safetensors.torch import save_file

    tensors = {key: value.contiguous() for key, value in full.items()} if full is not None \
        else {base_weight_key(name): layer.get_base_layer().weight.detach().contiguous().cpu()
              for name, layer in _lora_layers(model)}
    save_file(tensors, str(folder / BASE_WEIGHTS))


def load_base_weights(model: Any, folder: Path, full: dict[str, Any] | None = None) -> bool:
    """Load saved restart weights into a base (or PEFT-wrapped) model, quantizing them into its
    4/8-bit layers, and into ``full`` when given; False when none were saved."""
    path = Path(folder) / BASE_WEIGHTS
    if not path.exists():
        return False
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if full is not None:
        full.update(tensors)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    quantized = {name.replace(".base_layer", ""): module for name, module in base.named_modules()
                 if is_quantized(module) and not hasattr(module, "base_layer")}  # not PEFT's
    for key in [k for k in tensors if k.removesuffix(".weight") in quantized]:
        requantize(quantized[key.removesuffix(".weight")], tensors.pop(key))
    copy_base_tensors(model, tensors)  # the unquantized ones
    return True


class ReLoraCallback(TrainerCallback):
    """Restart the LoRA adapter every ``steps`` steps (not after the last one); ``full``: the
    full-precision targeted weights of a quantized base."""

    def __init__(self, steps: int, prune_method: str, prune_ratio: float,
                 full: dict[str, Any] | None = None) -> None:
        self.steps = int(steps)
        self.prune_method = prune_method
        self.prune_ratio = float(prune_ratio)
        self.full = full

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None,
                    optimizer: Any = None, **kw: Any):
        step = state.global_step
        if step % self.steps == 0 and step < state.max_steps:
            restart(model, optimizer, self.prune_method, self.prune_ratio, full=self.full)
            log.info("relora: restart at step %d (adapter merged, re-initialised, optimizer "
                     "state pruned: %s %.3f)", step, self.prune_method, self.prune_ratio)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                save_base_weights(model, folder, self.full)
