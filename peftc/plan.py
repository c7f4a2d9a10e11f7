"""`peftc plan`: an estimate of GPU memory per run, before anything is loaded.

The estimate (docs/plan.md has the derivation and how it compares with the seed's figures):

- weights: quantized linear layers at 4.25 bits (NF4 + double-quantized constants) or 8 bits,
  embeddings and lm_head in the compute dtype; unquantized models at their dtype's width;
- adapter: trainable parameters in fp32 (LoRA: r * (in + out) per targeted linear layer);
- gradients and optimizer: fp32 gradients plus two fp32 Adam moments per trainable
  parameter (8-bit optimizers: two bytes of moments);
- activations: with gradient checkpointing, each layer's input kept plus one layer's working
  set recomputed during backward; without it, every layer's working set; plus fp32 logits.
  DPO doubles the sequences (chosen and rejected);
- 10% on top for the CUDA context, allocator fragmentation and temporary buffers.

The model's shape comes from a local config.json, the embedded tiny model, or a table of the
models the seeds name; other hub ids are estimated from the size in their name.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peftc.diagnostics import UsageError
from peftc.vocab.catalog import TINY_LLAMA
from peftc.vocab.families import LLAMA_LIKE, size_of_name
from peftc.vocab.methods import METHODS, Peft

GB = 1024**3


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of a Llama-like layer's projections, by module name."""
        kv = self.kv_heads * self.head_dim
        h, i = self.hidden, self.intermediate
        return dict(zip(LLAMA_LIKE, ((h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)),
                        strict=True))

    @property
    def layer_params(self) -> int:
        return sum(i * o for i, o in self.linears().values())

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embed_params


KNOWN: dict[str, Shape] = {
    "meta-llama/llama-2-7b-hf": Shape(4096, 11008, 32, 32, 32, 32000),
    "meta-llama/llama-2-13b-hf": Shape(5120, 13824, 40, 40, 40, 32000),
    "meta-llama/llama-2-70b-hf": Shape(8192, 28672, 80, 64, 8, 32000),
    "meta-llama/llama-3.1-8b": Shape(4096, 14336, 32, 32, 8, 128256),
    "meta-llama/llama-3.1-8b-instruct": Shape(4096, 14336, 32, 32, 8, 128256),
    "mistralai/mistral-7b-v0.1": Shape(4096, 14336, 32, 32, 8, 32000),
    "qwen/qwen2.5-7b-instruct": Shape(3584, 18944, 28, 28, 4, 152064),
    "qwen/qwen2.5-7b": Shape(3584, 18944, 28, 28, 4, 152064),
}


def _shape_from_config(cfg: dict[str, Any]) -> Shape:
    heads = cfg.get("num_attention_heads", 32)
    return Shape(cfg["hidden_size"], cfg.get("intermediate_size", 4 * cfg["hidden_size"]),
                 cfg["num_hidden_layers"], heads, cfg.get("num_key_value_heads", heads),
                 cfg.get("vocab_size", 32000), bool(cfg.get("tie_word_embeddings", False)))


def model_shape(name: str) -> Shape | None:
    if name == TINY_LLAMA:
        from peftc.runtime.tiny_model import TINY_LLAMA_CONFIG, VOCAB_SIZE

        return _shape_from_config({**TINY_LLAMA_CONFIG, "vocab_size": VOCAB_SIZE})
    config = Path(name) / "config.json"
    if config.is_file():
        return _shape_from_config(json.loads(config.read_text(encoding="utf-8")))
    if name.lower() in KNOWN:
        return KNOWN[name.lower()]
    billions = size_of_name(name)
    if billions:  # a Llama-like shape of that size (hidden grows with the square root of size)
        hidden = int(round(4096 * (billions / 7) ** 0.5 / 128) * 128)
        layers = max(2, round(32 * billions / 7 / (hidden / 4096) ** 2))
        return Shape(hidden, int(hidden * 2.6875), layers, hidden // 128, hidden // 128, 32000)
    return None


def _adapter_params(run: dict[str, Any], shape: Shape) -> int:
    adapter = run["adapter"]
    cfg = adapter["config"]
    peft = METHODS[adapter["method"]].peft
    if peft.prompt_learning:  # prefix tuning: a key and a value per layer
        per_token = shape.hidden * (2 * shape.layers if peft is Peft.PREFIX_TUNING else 1)
        return cfg["num_virtual_tokens"] * per_token
    targets = cfg.get("target_modules") or []
    linears = shape.linears()
    chosen = linears if targets == "all-linear" else {
        k: v for k, v in linears.items() if k in targets}
    if peft is Peft.IA3:
        return shape.layers * sum(o for _, o in chosen.values())
    r = cfg.get("init_r") or cfg["r"]
    return shape.layers * sum(r * (i + o) for i, o in chosen.values())


def estimate(run: dict[str, Any], shape: Shape) -> dict[str, float]:
    """GB per component for one compiled run (see the module docstring)."""
    # on a GPU, bf16/fp16 "auto" resolves to a 16-bit type either way
    prec = run["precision"]
    dtype_bytes = 4 if prec["bf16"] is False and prec["fp16"] is False else 2
    quant = run.get("quantization") or {}
    linear_params = shape.layers * shape.layer_params
    if quant.get("load_in_4bit"):
        weights = linear_params * 4.25 / 8 + shape.embed_params * dtype_bytes
    elif quant.get("load_in_8bit"):
        weights = linear_params * 1.0 + shape.embed_params * dtype_bytes
    else:
        weights = shape.params * dtype_bytes
    trainable = _adapter_params(run, shape)
    adapter = trainable * 4
    optim = run["trainer"]["config"]["optim"]
    moments = 2 if "8bit" in optim else 8
    states = trainable * (4 + moments)
    tr = run["trainer"]["config"]
    seqs = tr["per_device_train_batch_size"] * (2 if run["trainer"]["kind"] == "dpo" else 1)
    tokens = seqs * (tr.get("max_length") or 2048)
    act_width = 2 if dtype_bytes == 2 else 4
    layer_input = tokens * shape.hidden * act_width
    working = tokens * (16 * shape.hidden + 6 * shape.intermediate) * act_width
    logits = tokens * shape.vocab * 4
    with_ckpt = shape.layers * layer_input + working + logits
    without = shape.layers * working + logits
    acts = with_ckpt if run["model"]["gradient_checkpointing"] else without
    total = (weights + adapter + states + acts) * 1.10
    return {"weights": weights / GB, "adapter": adapter / GB, "grads_optimizer": states / GB,
            "activations_ckpt": with_ckpt / GB, "activations_no_ckpt": without / GB,
            "total": total / GB, "trainable_share": trainable / max(1, shape.params)}


def _runs(target: Path, sets: list[str] | None) -> list[dict[str, Any]]:
    if target.is_dir():
        from peftc.schema import runfile

        return [runfile.load(target).data]
    if not target.is_file():
        raise UsageError(f"no such run folder or spec: {target}", file=str(target),
                         code="E005")
    from peftc.compiler import resolve_spec, runconfig
    from peftc.compiler.build import parse_sets

    compiled = resolve_spec(target, parse_sets(sets))
    spec_dir = compiled.spec.path.resolve().parent
    return [runconfig.build(r, spec_dir) for r in compiled.runs]


def plan_command(args: argparse.Namespace) -> int:
    runs = _runs(Path(args.target), args.set)
    w = max([len(r["run_id"]) for r in runs] + [3])
    header = (f"{'run':<{w}} {'weights':>8} {'adapter':>8} {'optim':>8} {'act(ckpt)':>10} "
              f"{'act(full)':>10} {'total GB':>9}  fits")
    print(header)
    too_big = 0
    for run in runs:
        shape = model_shape(run["model"]["name_or_path"])
        if shape is None:
            print(f"{run['run_id']:<{w}} unknown model size: give a local folder with "
                  "config.json")
            continue
        e = estimate(run, shape)
        fits = "-" if args.gpu_mem is None else ("yes" if e["total"] <= args.gpu_mem else "NO")
        too_big += fits == "NO"
        print(f"{run['run_id']:<{w}} {e['weights']:>8.2f} {e['adapter']:>8.2f} "
              f"{e['grads_optimizer']:>8.2f} {e['activations_ckpt']:>10.2f} "
              f"{e['activations_no_ckpt']:>10.2f} {e['total']:>9.2f}  {fits}")
    if too_big:
        print(f"{too_big} run(s) will not fit in {args.gpu_mem:g} GB")
    return 1 if too_big else 0
