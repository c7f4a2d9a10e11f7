"""Helpers shared by the runtime tests: logits of a trained model vs its reloaded adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROBE = "### Instruction:\nAdd the two numbers.\n\n### Input:\n3 and 4\n\n### Response:\n"


def probe_inputs(tokenizer: Any) -> dict:
    return tokenizer(PROBE, return_tensors="pt")


def logits(model: Any, inputs: dict) -> Any:
    import torch

    model.eval()
    with torch.no_grad():
        return model(**inputs, use_cache=False).logits.float()


def load_base(run: dict[str, Any]) -> Any:
    from transformers import AutoModelForCausalLM

    from peftc.runtime import precision
    from peftc.runtime.model import quantization_config, to_torch_dtypes
    from peftc.runtime.tiny_model import resolve_model_path

    dtype = precision.resolve(run.get("precision") or {}).dtype  # as the run loaded it
    kwargs = to_torch_dtypes({"dtype": dtype, **run["model"]["from_pretrained"]})
    if run.get("quantization"):
        kwargs["quantization_config"] = quantization_config(run["quantization"])
        kwargs["device_map"] = {"": "cpu"}
    return AutoModelForCausalLM.from_pretrained(resolve_model_path(run["model"]["name_or_path"]),
                                                **kwargs)


def reload_adapter(run: dict[str, Any]) -> Any:
    from peft import PeftModel

    from peftc.runtime.relora import load_base_weights

    out = Path(run["output_dir"])
    base = load_base(run)
    load_base_weights(base, out)
    model = PeftModel.from_pretrained(base, str(out))
    if run.get("quantization"):
        # TRL trains adapters on a quantized base in bf16 (QLoRA paper); compute the same way
        import torch

        for name, param in model.named_parameters():
            if "lora_" in name and "magnitude" not in name:
                param.data = param.data.to(torch.bfloat16)
    return model


def status(run: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(run["output_dir"]) / "status.json").read_text())


def metrics(run: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(run["output_dir"]) / "metrics.json").read_text())


def tiny_model(path: Path, config: Any) -> Path:
    """A tiny random model of ``config``'s architecture (transformers' own config class, as
    users' models are), saved with the embedded tiny tokenizer (its vocabulary of 1000)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peftc.runtime.tiny_model import resolve_model_path

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(path))
    AutoTokenizer.from_pretrained(resolve_model_path("peftc:tiny-llama")).save_pretrained(
        str(path))
    return path
