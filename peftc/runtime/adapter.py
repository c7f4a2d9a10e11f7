"""Apply the adapter from the ``adapter`` section of run.yaml.

``adapter.peft_class`` + ``adapter.config`` become one PEFT config (``LoraConfig(**config)``, ...).
Around it: an optional SFT adapter merged into the base first (``sft_adapter``), the LoRA+
optimizer (``peft.optimizers.create_loraplus_optimizer``), the AdaLoRA budget callback and the
ReLoRA restart callback (:mod:`peftc.runtime.relora`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from peftc.runtime.errors import RuntimeConfigError
from peftc.vocab.methods import INIT_LOFTQ, MUTATING_INITS, Peft

log = logging.getLogger("peftc.runtime")



def uses_loftq(section: dict[str, Any]) -> bool:
    """True when the adapter is initialised with LoftQ."""
    return (section.get("config") or {}).get("init_lora_weights") == INIT_LOFTQ


def check_supported(section: dict[str, Any]) -> None:
    """Stop early (before any model or data is loaded) on adapters this machine cannot run."""
    import torch

    if uses_loftq(section) and not (torch.cuda.is_available() or _has_xpu()):
        raise RuntimeConfigError(
            "adapter: LoftQ initialisation (init_lora_weights: loftq) needs a CUDA or XPU "
            "device, and this machine has none. Use init_lora_weights: true (or pissa/olora) on "
            "CPU, or run on a GPU machine.", code="E602", field="adapter.config.init_lora_weights"
        )


def _has_xpu() -> bool:
    import torch

    return bool(getattr(torch, "xpu", None) and torch.xpu.is_available())


def peft_config(section: dict[str, Any]) -> Any:
    """``peft.<peft_class>(**adapter.config)`` (a nested ``loftq_config`` becomes a LoftQConfig)."""
    import peft

    kwargs = dict(section.get("config") or {})
    if isinstance(kwargs.get("loftq_config"), dict):
        kwargs["loftq_config"] = peft.LoftQConfig(**kwargs["loftq_config"])
    try:
        return getattr(peft, section["peft_class"])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RuntimeConfigError(
            f"adapter.config: {section['peft_class']} rejected it: {exc}",
            code="E601", field="adapter.config"
        ) from exc


def merge_sft_adapter(model: Any, sft: dict[str, Any] | None) -> Any:
    """Merge earlier stages' adapters into the base (``merge_and_unload``), in order, or fall
    back to the base when allowed. Each adapter is loaded onto the already-loaded base (PEFT's
    ``PeftModel.from_pretrained``, which ``AutoPeftModelForCausalLM`` would wrap around a
    second base load), so only one model is ever in memory."""
    if not sft:
        return model
    from peft import PeftModel

    chain = [Path(p) for p in sft["chain"]]
    missing = [p for p in chain if not (p / "adapter_config.json").exists()]
    if not missing:
        for path in chain:
            model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
            print(f"peftc: sft_adapter: merged {path} into the base model", flush=True)
        return model
    path = missing[0]
    if sft.get("fallback_to_base"):
        print(f"peftc: sft_adapter: no adapter at {path}; training from the base model "
              "(fallback_to_base)", flush=True)
        return model
    raise RuntimeConfigError(
        f"adapter.sft_adapter.path: no PEFT adapter (adapter_config.json) at {path}; run the stage "
        "that produces it first, or set fallback_to_base: true",
        code="E611", field="adapter.sft_adapter.path"
    )


def initial_adapter_dir(section: dict[str, Any], output_dir: Path) -> Path | None:
    """Where the untrained adapter is kept for PiSSA/OLoRA/CorDA weight conversion, else None."""
    init = (section.get("config") or {}).get("init_lora_weights")
    if isinstance(init, str) and init.startswith(MUTATING_INITS):
        return Path(output_dir) / "initial_adapter"
    return None


def apply_adapter(model: Any, section: dict[str, Any], initial_dir: Path | None = None) -> Any:
    """Merge the SFT adapter if any, then wrap the model with a fresh PEFT adapter, or the one
    ``from_adapter`` names to train further (and keep the untrained adapter in
    ``initial_dir`` when the initialisation mutates the base)."""
    from peft import get_peft_model

    model = merge_sft_adapter(model, section.get("sft_adapter"))
    quantized = bool(getattr(model, "is_loaded_in_4bit", False) or
                     getattr(model, "is_loaded_in_8bit", False))
    if section.get("from_adapter"):
        model = load_trainable(model, Path(section["from_adapter"]))
    elif uses_loftq(section) and quantized:
        model = loftq_on_quantized(model, section)
    else:
        model = get_peft_model(model, peft_config(section))
    from peftc.runtime.outputs import is_main_process

    if initial_dir is not None and is_main_process():
        model.save_pretrained(str(initial_dir))
    return model


def load_trainable(model: Any, path: Path) -> Any:
    """Axolotl's lora_model_dir: the adapter at ``path``, loaded to be trained further (its own
    adapter_config.json decides its shape, as the compiler recorded; `check_paths` saw it
    there before the model loaded)."""
    from peft import PeftModel

    print(f"peftc: lora_model_dir: training the adapter at {path} further", flush=True)
    return PeftModel.from_pretrained(model, str(path), is_trainable=True)


def loftq_on_quantized(model: Any, section: dict[str, Any]) -> Any:
    """LoftQ on a bitsandbytes-quantized base. PEFT's ``init_lora_weights="loftq"`` expects the
    full-precision weights (it quantizes them itself), so a quantized base takes PEFT's other
    route: a plain LoRA, then ``replace_lora_weights_loftq``, which reads the original weights
    from the model's safetensors file. Needs CUDA (checked before loading, by check_supported).
    """
    import os

    from peft import get_peft_model, replace_lora_weights_loftq

    plain = {**section, "config": {k: v for k, v in section["config"].items()
                                   if k != "loftq_config"} | {"init_lora_weights": True}}
    model = get_peft_model(model, peft_config(plain))
    source = getattr(model.config, "_name_or_path", "")
    local = os.path.join(source, "model.safetensors")
    replace_lora_weights_loftq(model, model_path=local if os.path.isfile(local) else None)
    return model


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def loraplus_optimizer(model: Any, loraplus: dict[str, Any], args: Any) -> Any:
    """The LoRA+ optimizer: the trainer's own optimizer class and kwargs, with PEFT's LoRA+
    parameter groups (lora_B at ``lr * lr_ratio``)."""
    from peft.optimizers import create_loraplus_optimizer
    from transformers import Trainer

    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    optimizer_kwargs = dict(optimizer_kwargs)
    lr = optimizer_kwargs.pop("lr", args.learning_rate)
    extra = {}
    if loraplus.get("lr_embedding") is not None:
        extra["loraplus_lr_embedding"] = loraplus["lr_embedding"]
    return create_loraplus_optimizer(
        model,
        optimizer_cls,
        lr=lr,
        loraplus_lr_ratio=loraplus["lr_ratio"],
        loraplus_weight_decay=args.weight_decay,
        **extra,
        **optimizer_kwargs,
    )


class AdaLoraBudgetCallback(TrainerCallback):
    """Calls AdaLoRA's ``update_and_allocate`` after every optimizer step, before gradients are
    zeroed, as PEFT requires. Hand-written: no trainer calls it (TRL/transformers do not)."""

    def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        model.base_model.update_and_allocate(state.global_step)


def adapter_callbacks(section: dict[str, Any], relora_full: dict[str, Any] | None = None,
                      ) -> list[Any]:
    """The training callbacks the adapter needs (AdaLoRA budget, ReLoRA restarts, into
    ``relora_full`` on a quantized base)."""
    callbacks: list[Any] = []
    if section["peft_class"] == Peft.ADALORA.value:
        callbacks.append(AdaLoraBudgetCallback())
    if section.get("relora"):
        from peftc.runtime.relora import ReLoraCallback

        relora = section["relora"]
        callbacks.append(ReLoraCallback(relora["steps"], relora["prune_method"],
                                        relora["prune_ratio"], relora_full))
    return callbacks
