"""Small helpers the rule modules share: provenance tests, number formatting, model facts
read from a model id, and a cheap row count of local JSON-lines datasets.

Everything here is pure Python on resolved values (plus reading local files); nothing imports
the ML stack.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peftc.compiler.layers import Layer
from peftc.compiler.paths import find_local
from peftc.vocab.catalog import TINY_LLAMA
from peftc.vocab.datasets import Trainer
from peftc.vocab.families import FAMILIES, size_of_name
from peftc.vocab.methods import Method, method

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

GUIDE = "shared/seeds/004-parameter-guide.md"
QUICKREF = "shared/seeds/002-hyperparameter-quick-reference.md"
METHODS_DOC = "shared/seeds/003-peft-methods.md"
QWEN_DOC = "shared/seeds/001-qwen2.5-7b-training-details.md"

def written(run: ResolvedRun, key: str) -> bool:
    """True when ``key`` was set by the user (spec, stage, sweep, profile, command line)."""
    return key in run.sources and run.source(key).written


def blame(run: ResolvedRun, *keys: str) -> str:
    """The first of ``keys`` the user wrote (so a finding lands on a real spec line),
    else the first key that has any source, else the first key."""
    for key in keys:
        if written(run, key):
            return key
    for key in keys:
        if run.source(key).layer is not Layer.DEFAULT:
            return key
    return keys[0]


def shared_top_level(run: ResolvedRun, key: str) -> bool:
    """True when ``key`` comes from the top level of a staged spec, i.e. it is shared by every
    stage; a rule about "this key does nothing in this stage" should not fire on it."""
    return run.stage is not None and run.source(key).layer is Layer.SPEC


def is_dpo(run: ResolvedRun) -> bool:
    return Trainer.of(run.values.get("rl")) is Trainer.DPO


def method_of(run: ResolvedRun) -> Method | None:
    """The run's adapter method."""
    return method(run.values.get("adapter"))


def is_lora(run: ResolvedRun) -> bool:
    """A LoRA-style adapter, AdaLoRA included."""
    return bool((m := method_of(run)) and m.lora_like)


def uses_lora_r(run: ResolvedRun) -> bool:
    """A LoRA-family adapter whose rank is lora_r (AdaLoRA budgets its own ranks)."""
    return bool((m := method_of(run)) and m.lora)


def warmup_steps(run: ResolvedRun) -> int | None:
    """Warmup in optimizer steps, as the run gets them; None when the step count is unknown
    (a warmup ratio without max_steps). With max_steps, the compiler has turned a ratio
    into steps as Axolotl does (schedulers.axolotl_warmup)."""
    v = run.values
    if v.get("warmup_steps") is not None:
        return int(v["warmup_steps"])
    return 0 if not v.get("warmup_ratio") else None


# -- model facts from the model id -----------------------------------------------------------
_CONTEXT_K = re.compile(r"(?:^|[-_.])(\d+)k(?=$|[-_.])", re.IGNORECASE)


def model_name(run: ResolvedRun) -> str:
    return str(run.values.get("base_model") or "").rstrip("/").rsplit("/", 1)[-1]


def model_size_b(run: ResolvedRun) -> float | None:
    """Parameters in billions read from the model id (``families.size_of_name``)."""
    return size_of_name(model_name(run))


def native_context(run: ResolvedRun) -> tuple[int, str] | None:
    """(native context length, where the number comes from) for the run's model."""
    v = run.values
    if v.get("base_model") == TINY_LLAMA:
        return 1024, "the embedded tiny model"  # TINY_LLAMA_CONFIG max_position_embeddings
    if run.model_config is not None and run.model_config.context is not None:
        return run.model_config.context, "the model's config.json"
    name = model_name(run).lower()
    m = _CONTEXT_K.search(name)
    if m:
        return int(m.group(1)) * 1024, f"'{m.group(0).strip('-_.')}' in the model id"
    family = v.get("model_family")
    if family not in FAMILIES:
        return None
    for pattern, context, version in FAMILIES[family].versions:
        if re.search(pattern, name):
            return context, version
    return FAMILIES[family].context, f"the {family} family"


def tied_embeddings(run: ResolvedRun) -> bool:
    """Whether the model ties its output head to its input embeddings: its config.json says;
    without it, the family table (a family that ties, or the sizes of it that do)."""
    if run.model_config is not None and run.model_config.tied_embeddings is not None:
        return run.model_config.tied_embeddings
    family = run.values.get("model_family")
    size = model_size_b(run)
    name = model_name(run).lower()
    if family not in FAMILIES:
        return False
    fam = FAMILIES[family]
    if fam.tied:
        return True
    if fam.tied_upto is None or size is None:
        return False
    pattern, upto = fam.tied_upto
    return bool(re.search(pattern, name)) and size <= upto


# -- dataset size ----------------------------------------------------------------------------
_MAX_COUNT_BYTES = 512 * 1024 * 1024


@lru_cache(maxsize=256)
def _count_lines(path: str, mtime_ns: int, size: int) -> int:
    count = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    if size and last != b"\n":
        count += 1
    return count


def jsonl_rows(path: Path) -> int | None:
    """Rows of a local JSON-lines file (newlines counted, not parsed); None when unreadable."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not path.is_file() or st.st_size > _MAX_COUNT_BYTES:
        return None
    try:
        return _count_lines(str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def dataset_rows(run: ResolvedRun) -> int | None:
    """Total rows of the run's datasets when every one is a local .jsonl file; else None."""
    datasets: list[dict[str, Any]] = run.values.get("datasets") or []
    if not datasets:
        return None
    total = 0
    for item in datasets:
        raw = str(item.get("path", ""))
        if not raw.lower().endswith(".jsonl") or item.get("data_files"):
            return None
        path = find_local(raw, run.spec_dir)
        rows = jsonl_rows(path) if path is not None else None
        if rows is None:
            return None
        total += rows
    return total


def train_rows(run: ResolvedRun) -> int | None:
    """Rows left for training after val_set_size is split off."""
    rows = dataset_rows(run)
    if rows is None:
        return None
    val = run.values.get("val_set_size") or 0
    held = int(rows * val) if val < 1 else int(val)
    return max(rows - held, 0)
