"""Load the base model and its tokenizer from the ``model``, ``tokenizer`` and ``quantization``
sections of run.yaml (``AutoModelForCausalLM`` / ``AutoTokenizer`` / ``BitsAndBytesConfig``)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
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
                raise RuntimeConfigError(f"{key}: unknown torch dtype {value!r}")
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
            "give a local folder, or peftc:tiny-llama)") from exc


def transformers_class(section: dict[str, Any], default: str) -> Any:
    """The transformers class ``section["class"]`` names (Axolotl's model_type and
    tokenizer_type), ``default`` when unset."""
    import transformers

    name = section.get("class") or default
    cls = getattr(transformers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise RuntimeConfigError(f"class: transformers has no class {name!r} that loads with "
                                 "from_pretrained")
    return cls


def load_tokenizer(section: dict[str, Any]) -> Any:
    """``tokenizer.class.from_pretrained`` (AutoTokenizer by default) with the padding side, pad
    token and chat template."""
    name = section["name_or_path"]
    cls = transformers_class(section, "AutoTokenizer")
    with loading("tokenizer", name):
        tokenizer = cls.from_pretrained(resolve_model_path(name))
    tokenizer.padding_side = section.get("padding_side") or tokenizer.padding_side
    if section.get("pad_token"):
        tokenizer.pad_token = section["pad_token"]
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = section.get("chat_template")
    fallback = section.get("chat_template_fallback")
    if template:  # a name or Jinja text (the compiler checked which: E214)
        tokenizer.chat_template = template_text(template) if template in NAMED else template
    elif fallback and not tokenizer.chat_template:
        tokenizer.chat_template = template_text(fallback)
        print(f"peftc: warning: the tokenizer has no chat template: {fallback} is used",
              file=sys.stderr, flush=True)
    return tokenizer


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


def load_base(section: dict[str, Any], dtype: str, **extra: Any) -> Any:
    """The base model as the ``model`` section says: its class, its from_pretrained kwargs and
    config overrides, in ``dtype`` (for training, and for merging a trained adapter)."""
    kwargs = to_torch_dtypes({"dtype": dtype, **(section.get("from_pretrained") or {}), **extra})
    with loading("model", section["name_or_path"]):
        path = resolve_model_path(section["name_or_path"])
        if section.get("config_overrides"):  # Axolotl's model_config: set on the config
            kwargs["config"] = model_config(path, section)
        return transformers_class(section, "AutoModelForCausalLM").from_pretrained(path, **kwargs)


def load_model(
    section: dict[str, Any], quantization: dict[str, Any] | None, adapter: dict[str, Any],
    dtype: str,
) -> Any:
    """``model.class.from_pretrained`` (AutoModelForCausalLM by default) with the section's
    kwargs in ``dtype`` (the resolved precision's), then k-bit preparation
    (``adapter.prepare_kbit``) and gradient checkpointing."""
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
    model = load_base(section, dtype, **extra)

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
