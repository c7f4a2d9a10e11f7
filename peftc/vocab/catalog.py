"""Built-in knowledge the compiler layers under a spec: train profiles, task plugins and
the embedded model.

The profiles and tasks reproduce the sweep in
`shared/seeds/000-sweep-summary-excerpt.md` (the model family table is
`peftc/vocab/families.py`, the adapter methods' presets
`peftc/vocab/methods.py`). Each entry is written with spec keys, so a layer is just a partial
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


TINY_LLAMA = "peftc:tiny-llama"  # the embedded model (peftc/runtime/tiny_model.py builds it)
EMBEDDED_MODELS = {TINY_LLAMA: "llama"}  # -> its family

# chat_template names besides a Jinja string; the runtime maps each to its template


# Axolotl's unfrozen_parameters: a pattern may end in a row range, `[start:end]`
PARAM_RANGE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")


def param_regex(pattern: str) -> str:
    """An unfrozen_parameters pattern as the regular expression Axolotl matches with
    ``re.match``: a dot is a literal dot unless ``+`` follows it (``.+`` stays a wildcard)."""
    return re.sub(r"\.(?!\+)", r"\\.", pattern)
