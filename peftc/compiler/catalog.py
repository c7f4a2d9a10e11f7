"""Built-in knowledge the compiler layers under a spec: train profiles, task plugins,
adapter-method presets and the embedded model.

The profiles, tasks and presets reproduce the sweep in
`shared/seeds/000-sweep-summary-excerpt.md` (the model family table is
`peftc/vocab/families.py`). Each entry is written with spec keys, so a layer is just a partial
spec.
"""

from __future__ import annotations

import re
from typing import Any

_PAPER_COMMON: dict[str, Any] = {
    "warmup_ratio": 0.1,
    "cosine_min_lr_ratio": 0.01,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "bf16": True,
    "fp16": False,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "lr_scheduler": "cosine_with_min_lr",
}

PROFILES: dict[str, dict[str, Any]] = {
    "paper_code_ift": {"sequence_len": 4096, **_PAPER_COMMON, "global_batch_size": 192},
    "paper_default_ift": {"sequence_len": 2048, **_PAPER_COMMON, "global_batch_size": 256},
    "paper_math_ift": {"sequence_len": 1024, **_PAPER_COMMON, "global_batch_size": 768},
}


def auto_profile(task: str | None) -> str:
    """`profile: auto`: the train profile a built-in task plugin names, else none. A spec that
    names no task plugin trains with Axolotl's defaults: no profile applies unless asked."""
    return TASKS[task]["_profile"] if task in TASKS else "none"


# task -> (dataset id, split, dataset type == the formatter the runtime applies, rule text)
TASKS: dict[str, dict[str, Any]] = {
    "metamath": {
        "_profile": "paper_math_ift",
        "datasets": [{"path": "meta-math/MetaMathQA", "split": "train", "type": "metamath"}],
        "_formatting": "Uses first present of query/original_question/question/instruction/"
                       "prompt as instruction and response/answer/output/solution as response; "
                       "formats with '### Instruction' + '### Response'.",
    },
    "magicoder": {
        "_profile": "paper_code_ift",
        "datasets": [{"path": "ise-uiuc/Magicoder-Evol-Instruct-110K", "split": "train",
                      "type": "magicoder"}],
        "_formatting": "Uses first present of instruction/prompt/query/problem as instruction "
                       "and response/output/answer/completion as response; formats with "
                       "'### Instruction' + '### Response'.",
    },
    "alpaca": {
        "_profile": "paper_default_ift",
        "datasets": [{"path": "tatsu-lab/alpaca", "split": "train", "type": "alpaca_plain"}],
        "_formatting": "If text is present, uses text as-is; otherwise uses instruction + "
                       "optional input + output, formatted with '### Instruction' + "
                       "'### Response'.",
    },
    "csqa": {
        "_profile": "paper_default_ift",
        "datasets": [{"path": "tau/commonsense_qa", "split": "train", "type": "csqa"}],
        "_formatting": "Formats question + choices (A-E) and expects a single-letter answer; "
                       "wraps with '### Instruction' + '### Response'.",
    },
}


def task_layer(task: str) -> dict[str, Any]:
    return {k: v for k, v in TASKS[task].items() if not k.startswith("_")}


# adapter value -> spec keys it sets (the method:NAME layer)
METHODS: dict[str, dict[str, Any]] = {
    "lora": {},
    "qlora": {"load_in_4bit": True},
    "dora": {"peft_use_dora": True},
    "rslora": {"peft_use_rslora": True},
    "pissa": {},  # init_lora_weights is derived from pissa_init_mode
    "olora": {"peft_init_lora_weights": "olora"},
    "loftq": {"peft_init_lora_weights": "loftq", "loftq_config": {"loftq_bits": 4,
                                                                 "loftq_iter": 1}},
    "loraplus": {"loraplus_lr_ratio": 20.0},
    "adalora": {},
    "ia3": {},
    "prompt_tuning": {},
    "prefix_tuning": {},
    "p_tuning": {},
}

METHOD_NOTES: dict[str, str] = {
    "lora": "LoraConfig without init_lora_weights (peft default).",
    "qlora": "LoraConfig like lora; base model loaded in 4-bit NF4 with double quantization.",
    "dora": "LoraConfig with use_dora=True.",
    "rslora": "LoraConfig with use_rslora=True (scale alpha/sqrt(r)).",
    "pissa": "LoraConfig with init_lora_weights=pissa_init_mode.",
    "olora": "LoraConfig with init_lora_weights=olora.",
    "loftq": "LoraConfig with init_lora_weights=loftq and loftq_config.",
    "adalora": "AdaLoraConfig with total_step=max_steps, tinit=0.10, tfinal=0.80, deltaT=0.01.",
    "loraplus": "LoraConfig like lora; optimizer uses LoRA+ param grouping.",
    "ia3": "IA3Config on the family's key, value and down projections.",
    "prompt_tuning": "PromptTuningConfig with num_virtual_tokens.",
    "prefix_tuning": "PrefixTuningConfig with num_virtual_tokens.",
    "p_tuning": "PromptEncoderConfig with num_virtual_tokens and encoder_hidden_size.",
}

PROMPT_LEARNING = {"prompt_tuning", "prefix_tuning", "p_tuning"}  # no modules_to_save
LORA_FAMILY = {"lora", "qlora", "dora", "rslora", "pissa", "olora", "loftq", "loraplus"}

EMBEDDED_MODELS = {"peftc:tiny-llama": "llama"}

# chat_template names besides a Jinja string; the runtime maps each to its template


# Axolotl's unfrozen_parameters: a pattern may end in a row range, `[start:end]`
PARAM_RANGE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")


def param_regex(pattern: str) -> str:
    """An unfrozen_parameters pattern as the regular expression Axolotl matches with
    ``re.match``: a dot is a literal dot unless ``+`` follows it (``.+`` stays a wildcard)."""
    return re.sub(r"\.(?!\+)", r"\\.", pattern)
