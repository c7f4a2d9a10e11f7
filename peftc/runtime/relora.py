"""ReLoRA restarts: every ``adapter.relora.steps`` optimizer steps, merge the LoRA adapter into
the base weights, re-initialise it, clear its optimizer state and warm the learning rate up again
over ``warmup_steps``.

Hand-written: neither PEFT, TRL nor transformers implement ReLoRA. The re-warmup multiplies the
scheduler's learning rate just before each optimizer step (the scheduler then recomputes it from
its base values, so the factor never compounds); it depends on ``global_step`` only, so it
survives a resume. Because restarts live in the base weights, the merged targeted weights are saved
next to the adapter (``relora_base_weights.safetensors``, in the output folder and in every
checkpoint) and loaded back on resume and by ``merge``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger("peftc.runtime")

BASE_WEIGHTS = "relora_base_weights.safetensors"


def _lora_layers(model: Any) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def restart(model: Any, optimizer: Any, adapter_name: str = "default") -> None:
    """Merge the adapter into the base weights, re-initialise it, clear its optimizer state."""
    for _, layer in _lora_layers(model):
        if adapter_name not in layer.lora_A:
            continue
        layer.merge(adapter_names=[adapter_name])
        # The delta now lives in the base weight for good: forget it was "merged" so the adapter
        # keeps running on top of it, then start the adapter again from its initial state.
        layer.merged_adapters = [a for a in layer.merged_adapters if a != adapter_name]
        layer.reset_lora_parameters(adapter_name, init_lora_weights=True)
    inner = getattr(optimizer, "optimizer", optimizer)
    for group in inner.param_groups:
        for param in group["params"]:
            inner.state.pop(param, None)


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
    path = Path(folder) / BASE_WEIGHTS
    if not path.exists():
        return False
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    targets = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if weight is None:
            continue
        if hasattr(module, "get_base_layer"):
            continue
        key = base_weight_key(name.replace(".base_layer", ""))
        targets[key] = weight
    with torch.no_grad():
        for key, value in tensors.items():
            targets[key].copy_(value)
    return True


class ReLoraCallback(TrainerCallback):
    """Restart the LoRA adapter every ``steps`` steps, then re-warm the learning rate."""

    def __init__(self, steps: int, warmup_steps: int) -> None:
        self.steps = int(steps)
        self.warmup_steps = int(warmup_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None,
                    optimizer: Any = None, **kw: Any):
        step = state.global_step
        if step % self.steps == 0 and step < state.max_steps:
            restart(model, optimizer)
            log.info("relora: restart at step %d (adapter merged, re-initialised)", step)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None,
                              **kw: Any):
        last_restart = (state.global_step // self.steps) * self.steps
        since = state.global_step - last_restart
        if last_restart > 0 and since < self.warmup_steps:
            factor = (since + 1) / (self.warmup_steps + 1)
            for group in getattr(optimizer, "optimizer", optimizer).param_groups:
                group["lr"] *= factor

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                save_base_weights(model, folder)
