"""Load and format the training data from the ``data`` section of run.yaml.

Each ``data.datasets[]`` entry is loaded with ``datasets.load_dataset`` (hub id, local file with
its ``builder``, or folder), formatted by its ``type`` (:mod:`peftc.runtime.formatters`) and the
results are concatenated and exact duplicates removed (``deduplicate``); ``val_set_size`` then
splits off the last rows as the evaluation set, after a shuffle with ``shuffle_seed`` unless
``shuffle`` is false (Axolotl's order). Tokenization and loss masking are TRL's, except for
chat rows whose template TRL cannot mask (:mod:`peftc.runtime.chat`) and ``input_output``
segments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.formatters import input_output_segments, row_formatter
from peftc.vocab.datasets import DATASET_TYPES, Rows, Trainer, names_for

if TYPE_CHECKING:
    from peftc.runtime.chat import Masking

log = logging.getLogger("peftc.runtime")

def prepared_dir(section: dict[str, Any], tokenizer: Any | None) -> Path:
    """Where ``datasets`` keeps this run's prepared data (the loaded files' Arrow tables and
    every ``map`` and split over them, TRL's tokenization included, each under its
    fingerprint): ``<prepared_path or the datasets cache>/peftc-<key>``.

    The key hashes the content of the local data files, the data section and the tokenizer.
    Hand-written because ``datasets`` keys a local file by its path and modification time
    only, so a file edited with its time kept (``cp -p``, ``rsync -t``, an unpacked archive)
    would be served stale; under this key an edited file is a new folder."""
    root = section.get("prepared_path")
    if not root:
        import datasets

        root = Path(datasets.config.HF_DATASETS_CACHE) / "peftc-prepared"
    files = {}
    for entry in section["datasets"]:
        for path in _local_files(entry):
            with path.open("rb") as f:
                files[str(path)] = hashlib.file_digest(f, "sha256").hexdigest()
    key = json.dumps({"files": files, "data": section, "tokenizer": tokenizer and {
        "name": tokenizer.name_or_path, "length": len(tokenizer),
        "special": tokenizer.special_tokens_map, "chat_template": tokenizer.chat_template,
        "added": {i: t.content for i, t in tokenizer.added_tokens_decoder.items()},
    }}, sort_keys=True, default=str)
    return Path(root) / f"peftc-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _local_files(entry: dict[str, Any]) -> list[Path]:
    """The files a local entry reads (a folder's, all of them), in a stable order."""
    if not entry.get("local"):
        return []
    named = entry.get("data_files") or entry["path"]
    paths = [Path(p) for p in (named.values() if isinstance(named, dict) else
                               [named] if isinstance(named, str) else named)]
    out: list[Path] = []
    for path in paths:
        if not path.is_absolute():
            path = Path(entry["path"]) / path if Path(entry["path"]).is_dir() else path
        out += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else \
            [path] if path.is_file() else []
    return out


def load_arguments(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(what ``datasets.load_dataset`` loads, its keyword arguments) for one
    ``data.datasets[]`` entry: its builder or hub path, split, subset, revision and files."""
    kwargs: dict[str, Any] = {"split": entry.get("split") or "train"}
    if entry.get("name"):
        kwargs["name"] = entry["name"]
    if entry.get("builder"):  # a local file: no hub revision
        return entry["builder"], {**kwargs, "data_files": entry.get("data_files") or
                                  entry["path"]}
    if entry.get("revision"):
        kwargs["revision"] = entry["revision"]
    if entry.get("data_files"):
        kwargs["data_files"] = entry["data_files"]
    return entry["path"], kwargs


def load_error(entry: dict[str, Any], exc: Exception) -> RuntimeConfigError:
    """The error of a dataset that ``datasets`` cannot load (it raises many types: missing,
    malformed, offline), in one line."""
    cause = exc.__cause__ or exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return RuntimeConfigError(f"data: cannot load {entry['path']!r}: {type(cause).__name__}: "
                              f"{first}", code="E613")


def load_one(entry: dict[str, Any], cache_dir: Path | None = None) -> Any:
    """``datasets.load_dataset`` for one ``data.datasets[]`` entry, cached in ``cache_dir``."""
    from datasets import load_dataset

    what, kwargs = load_arguments(entry)
    try:
        dataset = load_dataset(what, cache_dir=str(cache_dir) if cache_dir else None, **kwargs)
    except Exception as exc:  # datasets raises many types (see load_error)
        raise load_error(entry, exc) from exc
    if len(dataset) == 0:
        raise RuntimeConfigError(f"data: dataset {entry['path']} has no rows in split "
                                 f"{kwargs['split']!r}", code="E613")
    return dataset


def tokenize_segments(row: dict[str, Any], fields: dict[str, str], tokenizer: Any) -> dict:
    """Axolotl ``input_output``: tokenize each segment; ``completion_mask`` is 1 on segments whose
    ``label`` is true. TRL takes such pre-tokenized rows as they are (no formatting of ours decides
    the loss beyond the labels the data gives)."""
    input_ids: list[int] = []
    mask: list[int] = []
    if tokenizer.bos_token_id is not None:
        input_ids.append(tokenizer.bos_token_id)
        mask.append(0)
    for segment in input_output_segments(row, fields):
        ids = tokenizer(segment["text"], add_special_tokens=False)["input_ids"]
        input_ids += ids
        mask += [1 if segment.get("label", True) else 0] * len(ids)
    return {"input_ids": input_ids, "completion_mask": mask}


def format_dataset(dataset: Any, entry: dict[str, Any], kind: str, train_on_inputs: bool,
                   tokenizer: Any, chat: Masking | None = None) -> Any:
    """Map one loaded dataset through its formatter. Preference data keeps its other columns.
    Chat rows are tokenized here when ``chat`` says peftc masks them (the ``rendered``
    route); otherwise TRL tokenizes them."""
    kind_types = names_for(Trainer(kind))
    if entry.get("type") not in kind_types:
        raise RuntimeConfigError(
            f"data: dataset {entry['path']} has type {entry.get('type')!r}, which a {kind} run "
            f"cannot use (expected one of {', '.join(sorted(kind_types))})", code="E612"
        )
    dtype = DATASET_TYPES[entry["type"]]
    fields = dict(entry.get("fields") or {})
    if dtype.rows is Rows.SEGMENTS:
        return dataset.map(tokenize_segments, fn_kwargs={"fields": fields, "tokenizer": tokenizer},
                           remove_columns=dataset.column_names)
    formatter = row_formatter(entry, train_on_inputs)
    if dtype.keeps_columns:
        consumed = [fields.get(name, name) for name in ("prompt", "chosen", "rejected")]
        return dataset.map(formatter, remove_columns=[c for c in consumed if c not in
                                                      ("prompt", "chosen", "rejected")])
    formatted = dataset.map(formatter, remove_columns=dataset.column_names)
    if dtype.chat and chat is not None and chat.route == "rendered":
        return tokenize_chat(formatted, entry, tokenizer, chat, train_on_inputs)
    return formatted


def tokenize_chat(dataset: Any, entry: dict[str, Any], tokenizer: Any, chat: Masking,
                  train_on_inputs: bool) -> Any:
    """``{"input_ids", "assistant_masks"}`` rows, masked by :mod:`peftc.runtime.chat`. A row
    with a turn the template does not render where it can be found is left with no trained
    token (the trainer drops and counts it), and said here."""
    from peftc.runtime.chat import for_dataset, tokenize_conversation

    chat = for_dataset(chat, tokenizer, entry)

    options = {k: entry[k] for k in ("roles_to_train", "train_on_eos", "train_on_eot")
               if k in entry}
    out = dataset.map(lambda row: tokenize_conversation(
        row["messages"], tokenizer, chat, train_on_inputs=train_on_inputs,
        tools=json.loads(row["tools"]) if row.get("tools") else None, **options),
        remove_columns=[c for c in ("messages", "tools") if c in dataset.column_names])
    unlocated = sum(out["peftc_unlocated"])
    if unlocated:
        print(f"peftc: data: {entry['path']}: {unlocated} of {len(out)} rows have a turn the "
              "chat template does not render as its content (it changes or moves it); they "
              "are dropped, not trained with a wrong mask", file=sys.stderr, flush=True)
    return out.remove_columns(["peftc_unlocated"])


def load_data(section: dict[str, Any], kind: str, tokenizer: Any,
              chat: Masking | None = None, cache_dir: Path | None = None,
              stats: dict[str, int] | None = None) -> tuple[Any, Any | None]:
    """Load, format and concatenate ``data.datasets``, remove duplicates, shuffle, split off
    ``val_set_size``; all of it kept in ``cache_dir`` (default: :func:`prepared_dir`).
    ``stats``, when given, gets ``duplicates_removed``.

    Returns ``(train_dataset, eval_dataset_or_None)``.
    """
    from datasets import concatenate_datasets

    train_on_inputs = bool(section.get("train_on_inputs"))
    cache_dir = cache_dir or prepared_dir(section, tokenizer)
    parts = []
    for i, entry in enumerate(section["datasets"]):
        try:
            parts.append(format_dataset(load_one(entry, cache_dir), entry, kind,
                                        train_on_inputs, tokenizer, chat))
        except RuntimeConfigError as exc:  # said at the dataset's own entry in the spec
            raise exc.at(f"data.datasets.{i}") from exc.__cause__
    columns = {tuple(sorted(p.column_names)) for p in parts}
    if len(columns) > 1:
        raise RuntimeConfigError(
            "data: the datasets format to different shapes "
            f"({' vs '.join(', '.join(c) for c in sorted(columns))}); TRL trains on one shape at a "
            "time: use types that format alike (e.g. all instruction types, or all chat_template)",
            code="E612", field="data.datasets"
        )
    dataset = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    if section.get("deduplicate"):
        dataset, removed = deduplicate(dataset)
        if stats is not None:
            stats["duplicates_removed"] = removed
    val = section.get("val_set_size") or 0
    if not val:  # the trainer draws batches at random: a shuffle here would change nothing
        return dataset, None
    if section["shuffle"]:  # Axolotl's shuffle_merged_datasets, before its split
        dataset = dataset.shuffle(seed=section["shuffle_seed"])
    test_size = float(val) if val < 1 else int(val)
    if isinstance(test_size, int) and test_size >= len(dataset):
        raise RuntimeConfigError(
            f"data.val_set_size: {val} rows requested but the data has only {len(dataset)}",
            code="E615", field="data.val_set_size"
        )
    split = dataset.train_test_split(test_size=test_size, shuffle=False)
    return split["train"], split["test"]


def deduplicate(dataset: Any) -> tuple[Any, int]:
    """``dataset`` without the rows equal to an earlier row, and how many went.

    Hand-written: ``datasets`` has no deduplication (Axolotl hashes each row by hand too).
    Rows are compared formatted, before tokenization, which maps equal rows to equal tokens.
    """
    seen: set[bytes] = set()
    keep = []
    for i, row in enumerate(dataset):
        digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).digest()
        if digest not in seen:
            seen.add(digest)
            keep.append(i)
    removed = len(dataset) - len(keep)
    return (dataset.select(keep) if removed else dataset), removed


def truncate_prompt_ids(dataset: Any, max_prompt_length: int, bos_token_id: int | None) -> Any:
    """Keep the last ``max_prompt_length`` prompt tokens of TRL-tokenized DPO rows (BOS kept).

    Hand-written: TRL 1.16's DPOConfig has no ``max_prompt_length``; this applies it to the
    ``prompt_ids`` the DPOTrainer produced, so the count is exact in tokens.
    """

    def truncate(row: dict[str, Any]) -> dict[str, Any]:
        ids = row["prompt_ids"]
        if len(ids) <= max_prompt_length:
            return {"prompt_ids": ids}
        if bos_token_id is not None and ids and ids[0] == bos_token_id and max_prompt_length > 1:
            return {"prompt_ids": [ids[0], *ids[len(ids) - max_prompt_length + 1:]]}
        return {"prompt_ids": ids[len(ids) - max_prompt_length:]}

    return dataset.map(truncate)
