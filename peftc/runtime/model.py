"""Load the base model and its tokenizer from the ``model``, ``tokenizer`` and ``quantization``
sections of run.yaml (``AutoModelForCausalLM`` / ``AutoTokenizer`` / ``BitsAndBytesConfig``)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.tiny_model import resolve_model_path
from peftc.vocab.chat_templates import NAMED, template_text

log = logging.getLogger("peftc.runtime")

DTYPE_KEYS = ("dtype", "torch_dtype", "bnb_4bit_compute_dtype", "bnb_4bit_quant_storage")



def to_torch_dtypes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Copy ``kwargs`` with dtype strings (``"bfloat16"``) turned into ``torch`` dtypes."""
    import torch

    out = dict(kwargs)
    for key in DTYPE_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value != "auto":
            dtype = getattr(torch, value, None)
            if not isinstance(dtype, torch.dtype):
                raise RuntimeConfigError(f"{key}: unknown torch dtype {value!r}", code="E601")
            out[key] = dtype
    return out


@contextlib.contextmanager
def loading(what: str, name: str) -> Iterator[None]:
    """Turn a library's failure to find or read a model into one clear runtime error."""
    try:
        yield
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeConfigError(
            f"{what}: cannot load {name!r}: {first} (offline, a hub id needs a local copy: "
            "give a local folder, or peftc:tiny-llama)", code="E616",
            field=f"{what}.name_or_path") from exc


def transformers_class(section: dict[str, Any], default: str, what: str) -> Any:
    """The transformers class ``section["class"]`` names (Axolotl's model_type and
    tokenizer_type), ``default`` when unset; ``what`` is the section (model, tokenizer)."""
    import transformers

    name = section.get("class") or default
    cls = getattr(transformers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise RuntimeConfigError(f"class: transformers has no class {name!r} that loads with "
                                 "from_pretrained", code="E616", field=f"{what}.class")
    return cls


def load_tokenizer(section: dict[str, Any]) -> Any:
    """The run's tokenizer: see :func:`tokenizer_and_new_tokens`."""
    return tokenizer_and_new_tokens(section)[0]


def tokenizer_and_new_tokens(section: dict[str, Any]) -> tuple[Any, list[str]]:
    """``tokenizer.class.from_pretrained`` (AutoTokenizer by default) with the padding side, the
    spec's special tokens and tokens, the pad token and chat template; and the tokens that were
    new to the vocabulary (a new pad token aside: padding is never trained on)."""
    name = section["name_or_path"]
    cls = transformers_class(section, "AutoTokenizer", "tokenizer")
    with loading("tokenizer", name):
        tokenizer = cls.from_pretrained(resolve_model_path(name))
    if section.get("added_tokens_overrides"):
        tokenizer = override_added_tokens(tokenizer, cls, section["added_tokens_overrides"])
    tokenizer.padding_side = section.get("padding_side") or tokenizer.padding_side
    new = add_tokens(tokenizer, section.get("special_tokens") or {}, section.get("tokens") or [])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = section.get("chat_template")
    fallback = section.get("chat_template_fallback")
    if template:  # a name or Jinja text (the compiler checked which: E214)
        tokenizer.chat_template = template_text(template) if template in NAMED else template
    elif fallback and not tokenizer.chat_template:
        tokenizer.chat_template = template_text(fallback)
        print(f"peftc: warning: the tokenizer has no chat template: {fallback} is used",
              file=sys.stderr, flush=True)
    return tokenizer, new


def override_added_tokens(tokenizer: Any, cls: Any, overrides: dict[int, str]) -> Any:
    """The tokenizer with the added tokens of the ``overrides`` ids renamed (Axolotl's
    ``added_tokens_overrides``): saved, its ``tokenizer.json`` (and ``tokenizer_config.json``
    where it lists them) edited, loaded again. Hand-written, as in Axolotl: neither tokenizers
    nor transformers can rename a token (transformers issue 27974)."""
    import tempfile

    added = {i: t.content for i, t in tokenizer.added_tokens_decoder.items()}
    vocab = tokenizer.get_vocab()
    for i, text in overrides.items():
        if i not in added:
            raise RuntimeConfigError(
                f"added_tokens_overrides: id {i} is not an added token of the tokenizer, and "
                "only added tokens can be renamed (its added tokens have the ids "
                f"{_ranges(sorted(added))})", code="E610",
                field=f"tokenizer.added_tokens_overrides.{i}")
        same = [j for j, t in overrides.items() if t == text and j != i]  # renamed alike
        other = vocab[text] if text in vocab else (same[0] if same else i)
        if other != i:
            raise RuntimeConfigError(
                f"added_tokens_overrides: {text!r} is already token {other}; id {i} "
                "would be a second spelling of it", code="E610",
                field=f"tokenizer.added_tokens_overrides.{i}")
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        path = Path(folder) / "tokenizer.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data["added_tokens"]:
            if entry["id"] in overrides:
                entry["content"] = overrides[entry["id"]]
        model_vocab = data["model"].get("vocab")
        if isinstance(model_vocab, dict):  # BPE/WordPiece: the vocabulary names them too
            for old, i in [(t, i) for t, i in model_vocab.items() if i in overrides]:
                del model_vocab[old]
                model_vocab[overrides[i]] = i
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        renamed = {added[i]: text for i, text in overrides.items()}
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            config_path = Path(folder) / name
            if config_path.exists():  # special-token settings name tokens by their text
                config = json.loads(config_path.read_text(encoding="utf-8"))
                config_path.write_text(json.dumps(_renamed(config, renamed), ensure_ascii=False),
                                       encoding="utf-8")
        return cls.from_pretrained(folder)


def _renamed(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` (parsed JSON) with every string that is a key of ``renamed`` replaced."""
    if isinstance(node, dict):
        return {k: _renamed(v, renamed) for k, v in node.items()}
    if isinstance(node, list):
        return [_renamed(v, renamed) for v in node]
    return renamed.get(node, node) if isinstance(node, str) else node


def _ranges(ids: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``3-5, 9``."""
    spans: list[list[int]] = []
    for i in ids:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans) or "none"


# Axolotl rebuilds these classes' post-processor when bos and eos are both replaced, so the
# ids the tokenizer inserts are the new ones
_LLAMA_TOKENIZERS = ("LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                     "CodeLlamaTokenizerFast")


def add_tokens(tokenizer: Any, special: dict[str, Any], tokens: list[str]) -> list[str]:
    """Add ``special_tokens`` and ``tokens`` as Axolotl's ``load_tokenizer`` does: each special
    token as an AddedToken that is neither stripped nor normalized, then the plain tokens, then
    ``additional_special_tokens`` (last, so a token listed twice ends up special). Returns the
    ones new to the vocabulary, bar a pad token."""
    from tokenizers import AddedToken

    def added(text: str) -> Any:
        return AddedToken(text, rstrip=False, lstrip=False, normalized=False)

    special = dict(special)
    extra = special.pop("additional_special_tokens", None) or []
    vocab = tokenizer.get_vocab()
    wanted = [text for name, text in special.items() if name != "pad_token"] + tokens + extra
    new = [text for text in dict.fromkeys(wanted) if text not in vocab]
    for name, text in special.items():
        tokenizer.add_special_tokens({name: added(text)})
    if {"bos_token", "eos_token"} <= special.keys() and \
            type(tokenizer).__name__ in _LLAMA_TOKENIZERS:
        tokenizer.update_post_processor()
    if tokens:
        tokenizer.add_tokens([added(text) for text in tokens])
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    return new


def fit_embeddings(model: Any, tokenizer: Any, multiple_of: int | None) -> None:
    """Grow the embeddings to the tokenizer's length (rounded up to ``multiple_of``; never
    shrunk) and point the model's bos and eos ids at the tokenizer's, as Axolotl does."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=multiple_of)
    for name in ("bos_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, name)
        for config in (model.config, getattr(model, "generation_config", None)):
            current = getattr(config, name, None)
            if token_id is None or current is None:
                continue
            if isinstance(current, list):  # generation stops at any of them: keep the others
                if token_id not in current:
                    setattr(config, name, [*current, token_id])
            elif current != token_id:
                setattr(config, name, token_id)


def embedding_modules(model: Any) -> list[str]:
    """The names (last part) of the model's input embedding and output head."""
    wanted = [model.get_input_embeddings(), model.get_output_embeddings()]
    names = {id(module): name.rsplit(".", 1)[-1] for name, module in model.named_modules()}
    return [names[id(m)] for m in wanted if m is not None and id(m) in names]


def check_new_tokens(model: Any, new: list[str], adapter: dict[str, Any]) -> None:
    """New tokens start with embedding rows nothing trained: the adapter must train the
    embedding modules in full (``modules_to_save``), or the run stops before training."""
    if not new:
        return
    needed = embedding_modules(model)
    saved = {str(m).rsplit(".", 1)[-1] for m in (adapter.get("config") or {}).get(
        "modules_to_save") or []}
    missing = [m for m in needed if m not in saved]
    if missing:
        listed = ", ".join(repr(t) for t in new[:5]) + (" ..." if len(new) > 5 else "")
        raise RuntimeConfigError(
            f"tokens {listed} are new to the vocabulary: their embedding rows start untrained, "
            f"and the adapter does not train {', '.join(missing)}. Set lora_modules_to_save: "
            f"[{', '.join(needed)}] (a LoRA or IA3 adapter), or use tokens the tokenizer "
            "already has", code="E606", field="tokenizer.tokens")


def quantization_config(section: dict[str, Any] | None) -> Any:
    """``BitsAndBytesConfig(**section)``, or None."""
    if not section:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(**to_torch_dtypes(section))


def model_config(path: str, section: dict[str, Any]) -> Any:
    """The model's config with ``config_overrides`` set on it, as Axolotl sets model_config
    (attribute by attribute, new attributes too)."""
    from transformers import AutoConfig

    fp = section.get("from_pretrained") or {}
    config = AutoConfig.from_pretrained(path, revision=fp.get("revision"),
                                        trust_remote_code=bool(fp.get("trust_remote_code")))
    for key, value in section["config_overrides"].items():
        setattr(config, key, value)
    return config


def load_base(section: dict[str, Any], dtype: str, tokenizer: Any = None, **extra: Any) -> Any:
    """The base model as the ``model`` section says: its class, its from_pretrained kwargs and
    config overrides, in ``dtype`` (for training, and for merging a trained adapter), with its
    embeddings fitted to ``tokenizer`` when given."""
    kwargs = to_torch_dtypes({"dtype": dtype, **(section.get("from_pretrained") or {}), **extra})
    with loading("model", section["name_or_path"]):
        path = resolve_model_path(section["name_or_path"])
        if section.get("config_overrides"):  # Axolotl's model_config: set on the config
            kwargs["config"] = model_config(path, section)
        cls = transformers_class(section, "AutoModelForCausalLM", "model")
        model = cls.from_pretrained(path, **kwargs)
    if tokenizer is not None:
        fit_embeddings(model, tokenizer, section.get("resize_to_multiple_of"))
    return model


def load_model(
    section: dict[str, Any], quantization: dict[str, Any] | None, adapter: dict[str, Any],
    dtype: str, tokenizer: Any,
) -> Any:
    """``model.class.from_pretrained`` (AutoModelForCausalLM by default) with the section's
    kwargs in ``dtype`` (the resolved precision's), its embeddings fitted to ``tokenizer``, then
    k-bit preparation (``adapter.prepare_kbit``) and gradient checkpointing (after the resize,
    which replaces the embedding module checkpointing hooks)."""
    import torch

    extra: dict[str, Any] = {}
    if quantization and quantization.get("load_in_4bit"):
        quantization = {"bnb_4bit_compute_dtype": dtype, **quantization}
    bnb = quantization_config(quantization)
    if bnb is not None:
        extra["quantization_config"] = bnb
        if "device_map" not in (section.get("from_pretrained") or {}) and \
                not torch.cuda.is_available():
            # bitsandbytes places quantized weights at load time; without CUDA they stay on CPU.
            extra["device_map"] = {"": "cpu"}
    model = load_base(section, dtype, tokenizer, **extra)

    checkpointing = bool(section.get("gradient_checkpointing"))
    gc_kwargs = section.get("gradient_checkpointing_kwargs") or None
    if adapter.get("prepare_kbit"):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs=gc_kwargs,
        )
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
    if checkpointing:
        model.config.use_cache = False
    return model


def base_parameters(model: Any) -> dict[str, Any]:
    """The base model's parameters by the names the model spells them: PEFT's prefix and its
    ``base_layer`` wrapper left out, tied parameters under each of their names."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {name.replace(".base_layer", ""): param
            for name, param in base.named_parameters(remove_duplicate=False)}


def load_base_tensors(model: Any, path: Path) -> bool:
    """Copy the tensors saved at ``path`` under base-model names (ReLoRA's merged restarts,
    unfrozen parameters) into a base or PEFT-wrapped model; False when there is no file."""
    if not path.exists():
        return False
    from safetensors.torch import load_file

    copy_base_tensors(model, load_file(str(path)))
    return True


def copy_base_tensors(model: Any, tensors: dict[str, Any]) -> None:
    """Copy ``tensors``, by base-model name, into a base or PEFT-wrapped model."""
    import torch

    named = base_parameters(model)
    with torch.no_grad():
        for name, value in tensors.items():
            named[name].copy_(value)
