"""``unfrozen_parameters``: base-model parameters trained in full beside the adapter.

The patterns match the parameters' names as the model spells them (``model.layers.0...``),
not PEFT's wrapped names. The trained parameters are saved under those names in
``unfrozen_parameters.safetensors``, in each checkpoint and beside the final adapter, since the
adapter files hold only the adapter; resuming and ``peftc merge`` load them back. Hand-written:
PEFT trains whole modules (``modules_to_save``), not parameters picked by name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.model import base_parameters, load_base_tensors

UNFROZEN = "unfrozen_parameters.safetensors"


def unfreeze(model: Any, patterns: list[dict[str, str]] | None) -> dict[str, Any]:
    """Make the base parameters the patterns match (``re.match`` of each compiled ``regex``)
    trainable, beside the adapter's; stop on a pattern that matches nothing, or weights that
    are quantized and cannot train (E607). Returns the unfrozen parameters by name."""
    if not patterns:
        return {}
    adapter = {id(p) for p in model.parameters() if p.requires_grad}
    named = {n: p for n, p in base_parameters(model).items() if id(p) not in adapter}
    unfrozen: dict[str, Any] = {}
    for i, item in enumerate(patterns):
        field = f"adapter.unfrozen_parameters.{i}"
        regex = re.compile(item["regex"])
        hits = {n: p for n, p in named.items() if regex.match(n)}
        if not hits:
            sample = ", ".join(list(named)[:3])
            raise RuntimeConfigError(
                f"unfrozen_parameters '{item['pattern']}' matches no parameter of the model; "
                f"its names look like {sample} (matched from the start; a dot is a literal "
                "dot unless + follows it)", code="E607", field=field)
        quantized = [n for n, p in hits.items() if not p.is_floating_point()]
        if quantized:
            raise RuntimeConfigError(
                f"unfrozen_parameters '{item['pattern']}' matches quantized weights "
                f"({', '.join(quantized[:3])}{' ...' if len(quantized) > 3 else ''}), which "
                "cannot train: narrow the pattern to unquantized parameters (norms, "
                "embeddings), or load the model unquantized", code="E607", field=field)
        unfrozen.update(hits)
    for param in unfrozen.values():
        param.requires_grad_(True)
    return unfrozen


def save_unfrozen(params: dict[str, Any], folder: Path) -> None:
    """Write the unfrozen parameters' values under their model names (one copy of a tied
    parameter per name, as the model's own checkpoints do)."""
    from safetensors.torch import save_file

    save_file({n: p.detach().contiguous().cpu().clone() for n, p in params.items()},
              str(Path(folder) / UNFROZEN))


def load_unfrozen(model: Any, folder: Path) -> bool:
    """Load saved unfrozen parameters into a base or PEFT-wrapped model; False when the
    folder has none."""
    return load_base_tensors(model, Path(folder) / UNFROZEN)


def unfrozen_callback(params: dict[str, Any]) -> Any:
    """Save the unfrozen parameters into each checkpoint, which holds only the adapter."""
    from transformers import TrainerCallback

    class SaveUnfrozen(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                save_unfrozen(params, folder)

    return SaveUnfrozen()
