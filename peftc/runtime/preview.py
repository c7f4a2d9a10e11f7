"""``peftc preview``: the first rows of each dataset of an SFT run, as its trainer sees them.

The rows go through the run's own steps: its tokenizer and chat template, its formatters,
its chat masks, and TRL's tokenization inside peftc's SFT trainer, with the same length
checks. So what the preview shows is what training trains. The model's weights are not
loaded: TRL prepares the dataset in the trainer's constructor, which needs a model, and a
one-layer stand-in with the tokenizer's vocabulary serves there (its weights are never used).
"""

from __future__ import annotations

import copy
import tempfile
from typing import Any

from peftc.runtime.errors import RuntimeConfigError


def stand_in_model(tokenizer: Any) -> Any:
    """A one-layer Llama with the tokenizer's vocabulary: the smallest model TRL accepts."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=8, intermediate_size=8,
                         num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1)
    return LlamaForCausalLM(config)


def preview(run: dict[str, Any], rows: int) -> tuple[list[dict[str, Any]], list[str]]:
    """For each dataset, its first ``rows`` rows as training sees them:
    ``{"dataset", "row", "input_ids", "labels", "segments", "trained_tokens"}``; ``labels``
    is -100 where the loss is masked. Rows the length checks drop are not shown; the notes
    say how many."""
    from peftc.runtime.data import load_data
    from peftc.runtime.model import load_tokenizer
    from peftc.runtime.run import chat_masking, preflight
    from peftc.runtime.trainer import sft_trainer_class, training_args

    if run["trainer"]["kind"] != "sft":
        raise RuntimeConfigError("peftc preview shows SFT runs; this run is "
                                 f"{run['trainer']['kind']}", code="E617", field="trainer.kind")
    import datasets
    import transformers

    datasets.disable_progress_bars()  # the preview is the output: no bars around it
    transformers.logging.set_verbosity_error()
    run = copy.deepcopy(run)
    data, trainer = run["data"], run["trainer"]
    data["val_set_size"] = 0
    run["report"] = None  # a preview reports nowhere (and needs no wandb)
    with tempfile.TemporaryDirectory() as scratch:
        trainer["config"].update(output_dir=scratch, packing=False, shuffle_dataset=False,
                                 report_to=[])
        precision = preflight(run)
        args = training_args(trainer, run["model"], precision)
        tokenizer = load_tokenizer(run["tokenizer"])
        chat = chat_masking(data, args, tokenizer)
        model = stand_in_model(tokenizer)
        out, notes = [], []
        firsts = [{**entry, "split": f"{entry['split']}[:{rows}]"} for entry in data["datasets"]]
        load_data({**data, "datasets": firsts}, "sft", tokenizer, chat)  # training's checks
        for entry, first in zip(data["datasets"], firsts, strict=True):
            dataset, _ = load_data({**data, "datasets": [first]}, "sft", tokenizer, chat)
            built = sft_trainer_class(data["excess_length"])(
                model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
            for i, row in enumerate(built.train_dataset):
                out.append(_shown(entry["path"], i, row["input_ids"], row["labels"],
                                  tokenizer))
            dropped = built.peftc_dropped["train"].report("train", args.max_length)
            if dropped:
                notes.append(f"{entry['path']}: {dropped}")
    return out, notes


def _shown(path: str, i: int, ids: list[int], labels: list[int], tokenizer: Any
           ) -> dict[str, Any]:
    segments: list[dict[str, Any]] = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or (labels[end] != -100) != (labels[start] != -100):
            segments.append({"text": tokenizer.decode(ids[start:end]),
                             "trained": labels[start] != -100})
            start = end
    return {"dataset": path, "row": i, "input_ids": ids, "labels": labels,
            "segments": segments, "trained_tokens": sum(x != -100 for x in labels)}
