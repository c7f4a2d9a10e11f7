"""run.yaml's JSON Schema: the format `compile` writes and the runtime reads.

Declared here field by field, as the spec's keys are declared in `peftc/vocab/keys.py`.
`peftc schema --run` prints it (`peftc/schema/run.schema.json`), `peftc schema --run
--markdown` renders `docs/run-format.md`, and the runtime validates a run.yaml with it before
it loads anything. The spec keys behind a field are not repeated here: `Key.run` in the key
table says which field each key reaches, and the docs read it from there.

Sections whose fields are a library's keyword arguments (`trainer.config`, `adapter.config`,
`quantization`, `model.from_pretrained`, ...) are open, so that a run.yaml may pass an argument
peftc does not write; the runtime checks their names against the class (`kwargs_of`) before
loading the model. `tests/test_run_schema.py` keeps the schema and the compiler in step: every
compiled run.yaml of the examples and golden specs validates, and every field is written.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from peftc.diagnostics import ERROR, Diagnostic, PeftcError
from peftc.schema.loader import Document, load_file
from peftc.schema.validate import validate_against
from peftc.vocab.datasets import DATASET_TYPES, Trainer
from peftc.vocab.keys import KEYS
from peftc.vocab.methods import METHODS, Peft

SCHEMA_ID = "https://peftc.dev/schema/run.schema.json"
KWARGS_OF = "x-kwargs-of"  # the class an open section's keys are keyword arguments of


def _v(kind: str | list[str], desc: str, *, null: bool = False, **extra: Any) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"] if null else kinds[0] if len(kinds) == 1 else kinds,
            "description": desc, **extra}


def _obj(desc: str, props: dict[str, Any], *, null: bool = False,
         optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A section whose fields are all peftc's: any other key is a mistake."""
    return {"type": ["object", "null"] if null else "object", "description": desc,
            "properties": props, "required": [k for k in props if k not in optional],
            "additionalProperties": False}


def _kwargs(desc: str, of: str, props: dict[str, Any] | None = None, *,
            null: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``of``, passed through: open, and checked against ``of``."""
    return {"type": ["object", "null"] if null else "object", "description": desc,
            KWARGS_OF: of, "properties": props or {}, "additionalProperties": True}


_STR_LIST = {"type": "array", "items": {"type": "string"}}
_PATHS = {"type": ["array", "null"], "items": {"type": "string"}}

MODEL = _obj("The base model: `AutoModelForCausalLM.from_pretrained` and its setup.", {
    "name_or_path": _v("string", "Hub id, absolute local folder, or `peftc:tiny-llama` "
                       "(the embedded tiny model)."),
    "class": _v("string", "The transformers Auto class that loads it."),
    "family": _v("string", "Model family (target-module table, FSDP wrap class).", null=True),
    "config_overrides": _v("object", "Set on the model's config before loading (Axolotl's "
                           "`model_config`).", null=True),
    "from_pretrained": _kwargs("Keyword arguments of `from_pretrained`, passed through (the "
                               "dtype comes from the resolved precision).",
                               "from_pretrained", {
                                   "revision": _v("string", "Branch, tag or commit.",
                                                  null=True),
                                   "trust_remote_code": _v("boolean", "Run the model "
                                                           "repository's own code."),
                                   "attn_implementation": _v("string", "eager, sdpa, "
                                                             "flash_attention_2, ..."),
                               }),
    "gradient_checkpointing": _v("boolean", "Recompute activations in the backward pass."),
    "gradient_checkpointing_kwargs": _kwargs("Keyword arguments of "
                                             "`gradient_checkpointing_enable`.",
                                             "gradient_checkpointing_enable"),
    "resize_to_multiple_of": _v("integer", "The multiple the embedding rows grow to when new "
                                "tokens need them (32 with resize_token_embeddings_to_32x).",
                                null=True),
})

PRECISION = _obj("Resolved by the runtime on the machine, once, and recorded in metrics.json: "
                 "the trainer's bf16/fp16/tf32, the load dtype and the 4-bit compute dtype. A "
                 "CPU gets fp32 (bf16: true there means CPU autocast).", {
                     "bf16": _v(["boolean", "string"], "`auto`: on a GPU that has it."),
                     "fp16": _v(["boolean", "string"], "`auto`: on a GPU without bf16; never "
                                "on a CPU."),
                     "tf32": _v(["boolean", "string"], "`auto`: on for compute capability "
                                ">= 8.0."),
                     "bfloat16": _v("boolean", "Weights in bfloat16 even without bf16 "
                                    "(Axolotl)."),
                     "float16": _v("boolean", "Weights in float16 unless bfloat16."),
                 })

TOKENIZER = _obj("`AutoTokenizer.from_pretrained` and the tokens and chat template it gets.", {
    "name_or_path": _v("string", "Hub id or absolute local folder."),
    "class": _v("string", "The transformers class that loads it."),
    "padding_side": _v("string", "right for SFT, left for DPO.", enum=["left", "right"]),
    "special_tokens": _v("object", "{bos_token, eos_token, pad_token, unk_token, "
                         "additional_special_tokens}, added as Axolotl adds them.", null=True),
    "tokens": {**_PATHS, "description": "Plain tokens added to the vocabulary."},
    "added_tokens_overrides": _v("object", "Token id -> new text for added tokens.",
                                 null=True),
    "chat_template": _v("string", "A template name or Jinja text; null: the tokenizer's own.",
                        null=True),
    "chat_template_fallback": _v("string", "A template name used when the tokenizer has "
                                 "none.", null=True),
})

QUANTIZATION = _kwargs("Keyword arguments of `BitsAndBytesConfig` (load_in_4bit, "
                       "bnb_4bit_quant_type, bnb_4bit_use_double_quant, or load_in_8bit); the "
                       "compute dtype comes from the resolved precision. null: not quantized.",
                       "BitsAndBytesConfig", null=True)

ADAPTER = _obj("The PEFT adapter and what trains beside it.", {
    "method": _v("string", "The spec's adapter method.", enum=list(METHODS)),
    "peft_class": _v("string", "The PEFT config class.", enum=[p.value for p in Peft]),
    "config": _kwargs("Keyword arguments of `peft_class`, passed through.", "peft_class"),
    "prepare_kbit": _v("boolean", "Call `prepare_model_for_kbit_training` (a quantized "
                       "base)."),
    "from_adapter": _v("string", "An adapter folder trained further (lora_model_dir, SFT).",
                       null=True),
    "sft_adapter": _obj("Adapters merged into the base, in chain order, before this run's "
                        "own.", {
                            "path": _v("string", "The adapter named by the spec."),
                            "chain": {**_STR_LIST, "description": "Absolute adapter folders, "
                                      "merged in this order."},
                            "fallback_to_base": _v("boolean", "Train on the bare base when "
                                                   "the adapter is missing."),
                        }, null=True),
    "relora": _obj("ReLoRA: merge and restart the adapter every `steps` steps.", {
        "steps": _v("integer", "The restart period in optimizer steps."),
        "prune_method": _v("string", "How Adam's moments are pruned at a restart."),
        "prune_ratio": _v("number", "The share of the moments pruned."),
    }, null=True),
    "loraplus": _obj("LoRA+: `peft.optimizers.create_loraplus_optimizer`.", {
        "lr_ratio": _v("number", "Learning rate of B over A."),
        "lr_embedding": _v("number", "Learning rate of embedding adapters."),
    }, null=True),
    "unfrozen_parameters": {
        "type": ["array", "null"], "description": "Base parameters trained in full beside "
        "the adapter.", "items": _obj("A spec pattern and the regular expression it "
                                      "compiles to.", {
                                          "pattern": _v("string", "As the spec wrote it."),
                                          "regex": _v("string", "Matched against parameter "
                                                      "names."),
                                      })},
})

_CHAT_FIELDS = ("message_property_mappings", "roles", "message_field_training",
                "chat_template", "roles_to_train", "train_on_eos", "train_on_eot",
                "drop_system_message")
DATASET = _obj("A dataset, loaded with `datasets.load_dataset` and formatted by its type.", {
    "path": _v("string", "Hub id, or an absolute local file or folder."),
    "local": _v("boolean", "A local file or folder (checked before the model loads)."),
    "builder": _v("string", "The datasets builder of a local file (json, parquet, csv, ...); "
                  "null: a hub dataset or a folder.", null=True),
    "name": _v("string", "The hub dataset's configuration.", null=True),
    "revision": _v("string", "The hub dataset's branch, tag or commit.", null=True),
    "split": _v("string", "The split to train on."),
    "data_files": _v(["string", "array"], "Files of the dataset to load.", null=True),
    "type": _v("string", "The dataset type: how rows become prompts and completions.",
               enum=list(DATASET_TYPES)),
    "fields": {"type": "object", "description": "Column mapping for the type's formatter, e.g. "
               "{instruction: question}.", "additionalProperties": {"type": "string"}},
    "message_property_mappings": _v("object", "chat_template: the row keys of a turn's role "
                                    "and content."),
    "roles": _v("object", "chat_template: template role -> the values rows use for it."),
    "message_field_training": _v("string", "chat_template: a turn key that says whether the "
                                 "turn trains.", null=True),
    "chat_template": _v("string", "chat_template: this dataset's own template (a name or "
                        "Jinja).", null=True),
    "roles_to_train": {**_STR_LIST, "description": "chat_template: template roles whose "
                       "turns' content trains."},
    "train_on_eos": _v("string", "chat_template: which turns' EOS token trains (all, turn, "
                       "last, none)."),
    "train_on_eot": _v("string", "chat_template: the same for the template's end of turn.",
                       null=True),
    "drop_system_message": _v("boolean", "chat_template: drop the system turn."),
}, optional=_CHAT_FIELDS)

DATA = _obj("The training data.", {
    "datasets": {"type": "array", "description": "Loaded in order and concatenated.",
                 "items": DATASET, "minItems": 1},
    "val_set_size": _v("number", "Held out for evaluation: a fraction (< 1) or a row count.",
                       minimum=0),
    "shuffle_seed": _v("integer", "Seed of the shuffle and the evaluation split."),
    "shuffle": _v("boolean", "Shuffle the concatenated datasets."),
    "deduplicate": _v("boolean", "Drop exact duplicate rows."),
    "excess_length": _v("string", "Rows longer than max_length: drop, truncate or raise.",
                        enum=KEYS["excess_length_strategy"].schema["enum"]),
    "prepared_path": _v("string", "Where the prepared (tokenized) data is kept.", null=True),
    "train_on_inputs": _v("boolean", "false: loss on completions only."),
    "eot_tokens": {**_PATHS, "description": "chat: end-of-turn tokens instead of the "
                   "template's."},
    "chat_template_kwargs": _v("object", "chat: variables for the template.", null=True),
    "max_prompt_length": _v("integer", "DPO: prompts are truncated to this many tokens.",
                            null=True),
})

TRAINER = _obj("TRL's trainer and what peftc adds around it.", {
    "kind": _v("string", "The trainer.", enum=[t.value for t in Trainer]),
    "config_class": _v("string", "TRL's config class.",
                       enum=[t.config_class for t in Trainer]),
    "config": _kwargs("Keyword arguments of `config_class`, passed through. `warmup_steps`: "
                      "an int is steps; a float < 1 a ratio of the steps, converted as "
                      "Axolotl does (int(ratio x steps), 1 becomes 2; transformers would round "
                      "up); `max_steps` -1: the epochs decide.", "config_class"),
    "max_warmup_steps": _v("integer", "Caps a warmup ratio's steps (Axolotl's default "
                           "warmup: 0.03 of the steps, at most 100).", null=True),
    "jagged_lr": _obj("ReLoRA's jagged schedule: the learning rate restarts with the adapter.",
                      {"steps": _v("integer", "The restart period."),
                       "warmup_steps": _v("integer", "Warmup after each restart.", null=True),
                       "anneal_steps": _v("integer", "Anneal before each restart.",
                                          null=True),
                       "min_lr_scale": _v("number", "The floor, as a share of the rate.")},
                      null=True),
    "early_stopping_patience": _v("integer", "transformers' EarlyStoppingCallback.",
                                  null=True),
    "loss_watchdog": _obj("Logged losses above `threshold` `patience` times in a row fail the "
                          "run.", {"threshold": _v("number", "The loss ceiling."),
                                   "patience": _v("integer", "Logged losses in a row.")},
                          null=True),
    "resume_from_checkpoint": _v("string", "A checkpoint folder to resume from.", null=True),
})

SAMPLES = _obj("Generation at each evaluation, written to samples.jsonl.", {
    "prompts": {**_STR_LIST, "description": "The prompts."},
    "max_new_tokens": _v("integer", "Tokens generated per prompt.", minimum=1),
})

BATCH = _obj("How the batch numbers were derived (the trainer's are in trainer.config).", {
    "micro_batch_size": _v("integer", "Rows per device per step.", minimum=1),
    "gradient_accumulation_steps": _v("integer", "Micro-batches per optimizer step.",
                                      minimum=1),
    "num_gpus": _v("integer", "The world size the batch was derived for; the runtime refuses "
                   "another.", minimum=1),
    "global_batch_size": _v("integer", "As the spec asked for it.", null=True),
    "effective_global_batch_size": _v("integer", "micro x accumulation x GPUs.", minimum=1),
})

REPORT = _obj("Where metrics go besides metrics.json.", {
    "wandb": _obj("W&B's settings (the trainer's report_to is [wandb] then).", {
        "project": _v("string", "W&B project.", null=True),
        "entity": _v("string", "W&B entity.", null=True),
        "name": _v("string", "The run's name in W&B."),
        "run_id": _v("string", "A W&B run id to log into.", null=True),
        "watch": _v(["string", "boolean"], "Gradients and parameters logged (false: none)."),
        "log_model": _v(["string", "boolean"], "Checkpoints uploaded (false: none)."),
        "mode": _v("string", "online, offline or disabled.", null=True),
    }, null=True),
})

LAUNCH = _obj("How `peftc launch` starts the run.", {
    "num_processes": _v("integer", "Processes (GPUs) in all.", minimum=1),
    "num_machines": _v("integer", "Machines.", minimum=1),
    "deepspeed": _v("string", "deepspeed.json beside run.yaml, when set.", null=True),
    "fsdp": _v("boolean", "FSDP, configured in accelerate.yaml."),
    "accelerate_config": _v("string", "The accelerate config beside run.yaml."),
})

SECTIONS: dict[str, dict[str, Any]] = {
    "peftc_version": _v("string", "The peftc that compiled the run."),
    "run_id": _v("string", "Readable name and short hash of the resolved config."),
    "stage": _v("string", "The pipeline stage.", null=True),
    "depends_on": {**_STR_LIST, "description": "run_ids that must complete first."},
    "output_dir": _v("string", "Where the run writes: adapter, checkpoints, metrics, status."),
    "model": MODEL, "precision": PRECISION, "tokenizer": TOKENIZER,
    "quantization": QUANTIZATION, "adapter": ADAPTER, "data": DATA, "trainer": TRAINER,
    "samples": SAMPLES, "batch": BATCH, "report": REPORT, "launch": LAUNCH,
}


@lru_cache(maxsize=1)
def run_schema() -> dict[str, Any]:
    """The JSON Schema of run.yaml."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "peftc compiled run (run.yaml)", **_obj(
                "One compiled run: everything the runtime reads.", SECTIONS)}


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(run_schema())


def load(run_dir: str | Path) -> Document:
    """A run folder's run.yaml, read and validated against its schema: a missing file, a
    misspelt key or a value of the wrong type raises every problem, located in run.yaml."""
    path = Path(run_dir) / "run.yaml"
    if not path.is_file():
        raise PeftcError(Diagnostic("E601", ERROR, "not a compiled run folder (no run.yaml): "
                                    "compile the spec first (peftc compile)",
                                    file=str(run_dir)), exit_code=2)
    doc = load_file(path)
    problems = validate_against(doc, _validator())
    if problems:
        raise PeftcError(problems)
    return doc
