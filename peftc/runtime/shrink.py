"""Tiny random models of a real architecture: the model's own config with its dimensions shrunk.

``peftc smoke`` and the family tests train these on a CPU. What is shrunk is only what sets the
model's size (layers, heads, widths, experts); what decides its behaviour is kept: the
architecture class, the module names, the head width (so that every rotary-embedding variant
stays valid), the vocabulary and the special-token ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LAYERS, HEADS = 2, 4
EXPERTS, EXPERTS_PER_TOKEN = 4, 2

# the config fields of a layer count, a head count and a width, by the names architectures use
_LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers")
_HEAD_FIELDS = ("num_attention_heads", "n_head")
_HIDDEN_FIELDS = ("hidden_size", "n_embd", "d_model")
_KV_FIELDS = ("num_key_value_heads", "num_kv_heads")
_PER_LAYER_LISTS = ("layer_types", "mlp_only_layers")


def _first(config: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    return next((f for f in fields if isinstance(config.get(f), int)), None)


def shrink(config: dict[str, Any], vocab_size: int | None = None) -> dict[str, Any]:
    """``config`` (a config.json as a dict) with two layers, four heads of the same width, and
    four experts when it has experts; ``vocab_size`` replaces the vocabulary when given."""
    out = dict(config)
    heads_field, hidden_field = _first(out, _HEAD_FIELDS), _first(out, _HIDDEN_FIELDS)
    if heads_field and hidden_field:
        head_dim = out.get("head_dim") or out[hidden_field] // out[heads_field]
        kv_field = _first(out, _KV_FIELDS)
        if kv_field:  # keep the kind of attention: multi-head, grouped or multi-query
            kv = out[kv_field]
            out[kv_field] = HEADS if kv >= out[heads_field] else (1 if kv == 1 else HEADS // 2)
        out[heads_field] = HEADS
        out[hidden_field] = HEADS * head_dim
        if "head_dim" in out:
            out["head_dim"] = head_dim
        for field in ("intermediate_size", "n_inner", "ffn_hidden_size"):
            if isinstance(out.get(field), int):
                out[field] = 2 * out[hidden_field]
        for field in ("moe_intermediate_size", "shared_expert_intermediate_size"):
            if isinstance(out.get(field), int):
                out[field] = out[hidden_field]
    for field in _LAYER_FIELDS:
        if isinstance(out.get(field), int):
            out[field] = LAYERS
    for field in _PER_LAYER_LISTS:
        if isinstance(out.get(field), list):
            out[field] = out[field][:LAYERS]
    for field in ("num_local_experts", "num_experts"):
        if isinstance(out.get(field), int) and out[field] > EXPERTS:
            out[field] = EXPERTS
    if isinstance(out.get("num_experts_per_tok"), int):
        out["num_experts_per_tok"] = min(out["num_experts_per_tok"], EXPERTS_PER_TOKEN)
    if vocab_size is not None:
        out["vocab_size"] = vocab_size
        for field in ("bos_token_id", "eos_token_id", "pad_token_id"):
            ids = out.get(field)
            if (isinstance(ids, int) and ids >= vocab_size) or (isinstance(ids, list) and any(
                    i >= vocab_size for i in ids)):
                out[field] = None
    out.pop("quantization_config", None)  # a random model is not a quantized checkpoint
    return out


def class_defaults(model_type: str) -> dict[str, Any]:
    """The config of ``model_type`` as transformers' config class builds it by default."""
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type).to_dict()


def build(config: dict[str, Any], seed: int = 0) -> Any:
    """A randomly initialised causal LM of ``config`` (a config.json dict)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {k: v for k, v in config.items() if k != "model_type"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(
            AutoConfig.for_model(config["model_type"], **fields), dtype=torch.float32)


def save(config: dict[str, Any], folder: Path, seed: int = 0) -> Path:
    """Build the model of ``config`` and save it to ``folder``."""
    build(config, seed).save_pretrained(folder)
    return folder
