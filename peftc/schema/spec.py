"""The spec vocabulary as a JSON Schema (draft 2020-12): the single source of truth for keys.

Keys follow Axolotl's names where Axolotl has the concept. Every key has a type, a
description, a default (or a note saying how it is resolved), and an enum or range where one
applies. `build_schema()` assembles the document; `peftc schema` prints it and the committed
`peftc.schema.json` beside this file is kept equal to it by a test.
"""

from __future__ import annotations

from typing import Any

# Names used by other modules ------------------------------------------------------------
ADAPTERS = [
    "lora", "qlora", "dora", "rslora", "pissa", "olora", "loftq", "loraplus", "adalora",
    "ia3", "prompt_tuning", "prefix_tuning", "p_tuning",
]
DATASET_TYPES = [
    "alpaca", "completion", "input_output", "chat_template",
    "metamath", "magicoder", "csqa", "preference",
]
FAMILIES = ["llama", "mistral", "qwen2", "gemma", "phi", "gpt_neox", "falcon"]
SCHEDULERS = [
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
    "constant_with_warmup", "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr",
    "cosine_warmup_with_min_lr", "warmup_stable_decay",
]
OPTIMIZERS = [
    "adamw_torch", "adamw_torch_fused", "adafactor", "adamw_torch_8bit", "adamw_bnb_8bit",
    "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_8bit", "lion_32bit",
    "paged_lion_8bit", "paged_lion_32bit", "sgd", "adagrad", "rmsprop", "ademamix",
    "schedule_free_adamw",
]
DPO_LOSSES = [
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_pair", "apo_zero", "apo_down", "discopop", "sft",
]
ATTENTION = ["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"]
DEEPSPEED_PRESETS = ["zero1", "zero2", "zero3", "zero3_offload", "zero2_offload"]

# Keys that are not run settings: they shape the spec itself.
STRUCTURAL = ["extends", "profile", "profiles", "sweep", "stages", "lint", "cluster", "name"]


def _t(kind: str | list[str], desc: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    return _annotate({"type": kind, "description": desc}, default, extra)


def _annotate(out: dict[str, Any], default: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Add the default and the extra keywords. ``axolotl=True`` marks a default that is
    Axolotl's own (``defaultFrom: axolotl``), which provenance reports as ``default:axolotl``;
    any other default is peftc's (``default:peftc``)."""
    if default is not None:
        out["default"] = default
        if extra.pop("axolotl", False):
            out["defaultFrom"] = "axolotl"
    out.update(extra)
    return out


def _bool(desc: str, default: bool = False, **extra: Any) -> dict[str, Any]:
    return _t("boolean", desc, default, **extra)


def _int(desc: str, default: int | None = None, minimum: int = 0, **extra: Any) -> dict[str, Any]:
    return _t("integer", desc, default, minimum=minimum, **extra)


def _num(desc: str, default: float | None = None, **extra: Any) -> dict[str, Any]:
    return _t("number", desc, default, **extra)


def _enum(values: list[Any], desc: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    return _annotate({"enum": values, "description": desc}, default, extra)


def _auto_bool(desc: str, **extra: Any) -> dict[str, Any]:
    """A switch whose default, ``auto``, the runtime resolves on the machine (Axolotl's too)."""
    return _annotate({"anyOf": [{"enum": ["auto"]}, {"type": "boolean"}], "description": desc},
                     "auto", {"axolotl": True, **extra})


_STR_LIST = {"type": "array", "items": {"type": "string"}}

_DATASET = {
    "type": "object",
    "description": "One training dataset (Axolotl-style).",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": _t("string", "Hub dataset id, or a local file or folder (relative to the spec)."),
        "type": _enum(DATASET_TYPES, "How rows are turned into training text.", "alpaca"),
        "split": _t("string", "Split to load.", "train"),
        "name": _t("string", "Dataset configuration name (hub datasets)."),
        "revision": _t("string", "Dataset revision (hub datasets)."),
        "data_files": {"type": ["string", "array"], "items": {"type": "string"},
                       "description": "Files to load from the dataset path."},
        "ds_type": _enum(["json", "parquet", "csv", "arrow", "text"],
                         "Loader for local files; guessed from the file suffix when unset."),
        "field_instruction": _t("string", "Column holding the instruction (alpaca, input_output)."),
        "field_input": _t("string", "Column holding the optional input (alpaca)."),
        "field_output": _t("string", "Column holding the response (alpaca, input_output)."),
        "field_text": _t("string", "Column holding raw text (completion).", "text"),
        "field_messages": _t("string", "Column holding the message list (chat_template).",
                             "messages"),
        "field_prompt": _t("string", "Column holding the prompt (preference).", "prompt"),
        "field_chosen": _t("string", "Column holding the chosen answer (preference).", "chosen"),
        "field_rejected": _t("string", "Column holding the rejected answer (preference).",
                             "rejected"),
    },
}

_LOFTQ = {
    "type": "object",
    "description": "LoftQ initialisation settings (PEFT LoftQConfig). Used with adapter: loftq "
                   "or peft_init_lora_weights: loftq.",
    "additionalProperties": False,
    "properties": {
        "loftq_bits": _enum([4, 8], "Quantization bits LoftQ models.", 4),
        "loftq_iter": _int("Alternating optimisation steps.", 1, minimum=1),
    },
}

_FSDP = {
    "type": "object",
    "description": "Fully Sharded Data Parallel through accelerate.",
    "additionalProperties": False,
    "properties": {
        "sharding_strategy": _enum(["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD"],
                                   "How parameters, gradients and optimizer state are sharded.",
                                   "FULL_SHARD"),
        "offload_params": _bool("Offload parameters to CPU."),
        "state_dict_type": _enum(["FULL_STATE_DICT", "SHARDED_STATE_DICT"],
                                 "How checkpoints are written.", "SHARDED_STATE_DICT"),
        "auto_wrap": _bool("Wrap each decoder layer (class taken from the model family).", True),
    },
}

_CLUSTER = {
    "type": "object",
    "description": "SLURM settings for `peftc compile --slurm`.",
    "additionalProperties": False,
    "properties": {
        "partition": _t("string", "SLURM partition."),
        "account": _t("string", "SLURM account."),
        "nodes": _int("Nodes per run.", 1, minimum=1),
        "gpus_per_node": _int("GPUs per node.", 8, minimum=1),
        "cpus_per_task": _int("CPUs per task.", minimum=1),
        "time": _t("string", "Time limit (HH:MM:SS or D-HH:MM:SS).", "24:00:00"),
        "qos": _t("string", "Quality of service."),
        "setup": _t("string", "Shell lines run before launching (module load, venv activation)."),
        "main_process_port": _int("Rendezvous port.", 29500, minimum=1, maximum=65535),
    },
}

_LINT = {
    "type": "object",
    "description": "Lint configuration for this spec.",
    "additionalProperties": False,
    "properties": {
        "ignore": {**_STR_LIST, "description": "Rule codes not reported for this spec."},
        "severity": {"type": "object", "description": "Per-code severity override.",
                     "additionalProperties": _enum(["error", "warning", "info", "off"], "")},
    },
}


def _settings() -> dict[str, dict[str, Any]]:
    """Per-run settings: what profiles, stages and sweeps may set."""
    return {
        # -- model -------------------------------------------------------------------------
        "base_model": _t("string", "Base model: a hub id, a local folder, or `peftc:tiny-llama` "
                         "(the embedded tiny model). Required.", group="model"),
        "revision_of_model": _t("string", "Model revision (branch, tag or commit).", group="model"),
        "tokenizer_config": _t("string", "Tokenizer to load; defaults to base_model.",
                               group="model"),
        "model_family": _enum(FAMILIES, "Model family; detected from base_model when unset. "
                              "Decides the default target modules.", group="model"),
        "trust_remote_code": _bool("Run code from the model repository.",
                                   axolotl=True, group="model"),
        "attn_implementation": _enum(ATTENTION, "Attention kernel.", "sdpa", group="model"),
        "flash_attention": _bool("Axolotl spelling of attn_implementation: flash_attention_2.",
                                 group="model"),
        # -- adapter -----------------------------------------------------------------------
        "adapter": _enum(ADAPTERS, "PEFT method (a sweepable axis).", "lora", group="adapter"),
        "lora_r": _int("LoRA rank.", 16, minimum=1, group="adapter"),
        "lora_alpha": _num("LoRA scaling numerator (scale = alpha / r).", 32, exclusiveMinimum=0,
                           group="adapter"),
        "lora_dropout": _num("Dropout on the LoRA path.", 0.0, minimum=0, maximum=1,
                             group="adapter", axolotl=True),
        "lora_bias": _enum(["none", "all", "lora_only"], "Which biases train.", "none",
                           axolotl=True, group="adapter"),
        "lora_target_modules": {"type": ["array", "string"], "items": {"type": "string"},
                                "description": "Modules to adapt; defaults to the family's "
                                "attention and MLP projections.", "group": "adapter"},
        "lora_target_linear": _bool("Adapt every linear layer (PEFT's all-linear).",
                                    group="adapter"),
        "lora_modules_to_save": {**_STR_LIST, "description": "Modules trained in full and saved "
                                 "with the adapter (e.g. embed_tokens, lm_head).",
                                 "group": "adapter"},
        "peft_use_dora": _bool("Weight-decomposed LoRA (DoRA).", group="adapter"),
        "peft_use_rslora": _bool("Rank-stabilised scaling alpha / sqrt(r).", group="adapter"),
        "peft_init_lora_weights": {
            "anyOf": [{"type": "boolean"}, {"enum": [
                "gaussian", "pissa", "olora", "loftq", "orthogonal", "corda", "eva"]},
                {"type": "string", "pattern": "^pissa_niter_[0-9]+$"}],
            "description": "LoRA initialisation (PEFT init_lora_weights); unset means PEFT's "
                           "default.", "group": "adapter"},
        "pissa_init_mode": _t("string", "PiSSA init for adapter: pissa (`pissa` or "
                              "`pissa_niter_N`).", "pissa", pattern="^pissa(_niter_[0-9]+)?$",
                              group="adapter"),
        "loftq_config": {**_LOFTQ, "group": "adapter"},
        "loraplus_lr_ratio": _num("LoRA+: lora_B learning rate = lr * ratio.",
                                  exclusiveMinimum=0, group="adapter"),
        "loraplus_lr_embedding": _num("LoRA+: learning rate of embedding adapters; unset means "
                                      "PEFT's 1e-6.", exclusiveMinimum=0, group="adapter"),
        "adalora_init_r": _int("AdaLoRA initial rank.", 12, minimum=1, group="adapter"),
        "adalora_target_r": _int("AdaLoRA average target rank.", 8, minimum=1, group="adapter"),
        "adalora_total_step": _int("AdaLoRA total steps; defaults to max_steps.", minimum=1,
                                   group="adapter"),
        "adalora_tinit": _int("AdaLoRA warmup steps before budgeting; default 10% of total.",
                              group="adapter"),
        "adalora_tfinal": _int("AdaLoRA final fine-tuning steps; default 80% of total.",
                               group="adapter"),
        "adalora_deltaT": _int("AdaLoRA steps between budget updates; default 1% of total.",
                               minimum=1, group="adapter"),
        "ia3_target_modules": {**_STR_LIST, "description": "IA3 modules; defaults to the "
                               "family's key, value and down projections.", "group": "adapter"},
        "ia3_feedforward_modules": {**_STR_LIST, "description": "IA3 modules treated as "
                                    "feed-forward; defaults to the family's down projection.",
                                    "group": "adapter"},
        "num_virtual_tokens": _int("Virtual tokens (prompt, prefix, p-tuning).", 20, minimum=1,
                                   group="adapter"),
        "prompt_tuning_init_text": _t("string", "Initialise prompt tuning from this text.",
                                      group="adapter"),
        "encoder_hidden_size": _int("P-tuning prompt encoder width.", 128, minimum=1,
                                    group="adapter"),
        "prefix_projection": _bool("Prefix tuning: reparameterise prefixes through an MLP.",
                                   group="adapter"),
        "relora_steps": _int("ReLoRA: merge and restart the adapter every N steps.", minimum=1,
                             group="adapter"),
        "relora_warmup_steps": _int("ReLoRA: re-warmup steps after each restart.", 10,
                                    group="adapter"),
        "neftune_noise_alpha": _num("NEFTune embedding noise scale.", exclusiveMinimum=0,
                                    group="adapter"),
        "sft_adapter": _t("string", "Start from this SFT adapter: loaded, merged into the base, "
                          "then the fresh adapter is applied.", group="adapter"),
        "sft_adapter_fallback": _bool("Accept the plain base model when sft_adapter is missing.",
                                      group="adapter"),
        # -- quantization ------------------------------------------------------------------
        "load_in_4bit": _bool("Load the base model in 4 bits (bitsandbytes).",
                              axolotl=True, group="quant"),
        "load_in_8bit": _bool("Load the base model in 8 bits (bitsandbytes).",
                              axolotl=True, group="quant"),
        "bnb_4bit_quant_type": _enum(["nf4", "fp4"], "4-bit data type.", "nf4",
                                     axolotl=True, group="quant"),
        "bnb_4bit_use_double_quant": _bool("Quantize the quantization constants too.", True,
                                           axolotl=True, group="quant"),
        # -- data --------------------------------------------------------------------------
        "task": _t("string", "Built-in task plugin (metamath, magicoder, alpaca, csqa) or a "
                   "label for datasets given directly; picks the train profile under "
                   "profile: auto.", group="data"),
        "datasets": {"type": "array", "items": _DATASET, "minItems": 1,
                     "description": "Training datasets; a task plugin supplies them when unset.",
                     "group": "data"},
        "chat_template": _t("string", "Chat template: tokenizer_default, chatml, or a Jinja "
                            "template string.", "tokenizer_default", group="data"),
        "train_on_inputs": _bool("Compute the loss on prompts too, not only completions.",
                                 axolotl=True, group="data"),
        "val_set_size": _num("Held-out share (< 1) or row count (>= 1) for evaluation.", 0.0,
                             minimum=0, axolotl=True, group="data"),
        "sequence_len": _int("Maximum tokens per example (or per packed sequence).", 512,
                             minimum=8, group="data", axolotl=True),
        "sample_packing": _bool("Pack several examples into each sequence (TRL packing).",
                                axolotl=True, group="data"),
        "packing_strategy": _enum(["bfd", "bfd_split", "wrapped"],
                                  "How TRL packs: best-fit decreasing or wrapped.", "bfd",
                                  group="data"),
        "padding_free": _bool("Concatenate a batch without padding (TRL padding_free).",
                              group="data"),
        "eval_sample_packing": _bool("Pack evaluation data too.", group="data"),
        "pad_to_sequence_len": _bool("Pad every batch to sequence_len.", group="data"),
        "max_prompt_len": _int("DPO: prompts are truncated to this many tokens.", minimum=1,
                               group="data"),
        "sample_prompts": {**_STR_LIST, "description": "Prompts generated from at each "
                           "evaluation, appended to samples.jsonl.", "group": "data"},
        "sample_max_new_tokens": _int("Tokens generated per sample prompt.", 64, minimum=1,
                                      group="data"),
        # -- batch -------------------------------------------------------------------------
        "micro_batch_size": _int("Examples per device per step.", 1, minimum=1,
                                 axolotl=True, group="batch"),
        "gradient_accumulation_steps": _int("Micro-batches per optimizer step; derived from "
                                            "global_batch_size when that is set.", 1, minimum=1,
                                            axolotl=True, group="batch"),
        "global_batch_size": _int("Target examples per optimizer step across all devices.",
                                  minimum=1, group="batch"),
        "num_gpus": _int("World size (total processes) the batch derivation assumes.", 1,
                         minimum=1, group="batch"),
        "num_machines": _int("Machines the run spans.", 1, minimum=1, group="batch"),
        # -- training ----------------------------------------------------------------------
        "rl": _enum(["dpo"], "Preference training with TRL's DPOTrainer; unset means SFT.",
                    group="training"),
        "rl_beta": _num("DPO beta (KL penalty).", 0.1, exclusiveMinimum=0, group="training"),
        "dpo_loss_type": {"anyOf": [_enum(DPO_LOSSES, ""), {"type": "array", "items": _enum(
            DPO_LOSSES, "")}], "description": "DPO loss (TRL loss_type), one or a list.",
            "default": "sigmoid", "group": "training"},
        "num_epochs": _num("Epochs; max_steps wins when both are set.", 1, exclusiveMinimum=0,
                           axolotl=True, group="training"),
        "max_steps": _int("Optimizer steps; overrides num_epochs.", minimum=1, group="training"),
        "learning_rate": _num("Peak learning rate.", 2e-4, exclusiveMinimum=0, maximum=1,
                              group="training"),
        "optimizer": _enum(OPTIMIZERS, "Optimizer (transformers optim name).",
                           "adamw_torch_fused", group="training", axolotl=True),
        "lr_scheduler": _enum(SCHEDULERS, "Learning-rate schedule.", "cosine",
                              group="training", axolotl=True),
        "lr_scheduler_kwargs": {"type": "object", "description": "Extra scheduler arguments.",
                                "group": "training"},
        "cosine_min_lr_ratio": _num("Floor of cosine_with_min_lr as a share of the peak rate "
                                    "(scheduler min_lr_rate).", 0.0, minimum=0, maximum=1,
                                    group="training"),
        "warmup_ratio": _num("Share of steps spent warming up. With neither warmup key set, "
                             "warmup is min(3% of the steps, 100), as in Axolotl.", minimum=0,
                             maximum=1, group="training"),
        "warmup_steps": _int("Warmup steps; overrides warmup_ratio.", group="training"),
        "weight_decay": _num("AdamW weight decay.", 0.0, minimum=0, axolotl=True,
                             group="training"),
        "adam_beta1": _num("AdamW beta1.", 0.9, minimum=0, exclusiveMaximum=1, axolotl=True,
                           group="training"),
        "adam_beta2": _num("AdamW beta2.", 0.999, minimum=0, exclusiveMaximum=1,
                           axolotl=True, group="training"),
        "adam_epsilon": _num("AdamW epsilon.", 1e-8, exclusiveMinimum=0, axolotl=True,
                             group="training"),
        "max_grad_norm": _num("Gradient clipping norm (0 disables).", 1.0, minimum=0,
                              axolotl=True, group="training"),
        "bf16": _auto_bool("bfloat16 mixed precision (and bfloat16 weights). auto: resolved "
                           "by the runtime on the device the run gets: bf16 where the GPU "
                           "supports it, else fp16 on a GPU (unless fp16 is false), else fp32 "
                           "(CPU).", group="training"),
        "fp16": _t("boolean", "float16 mixed precision; unset lets bf16: auto choose it.",
                   group="training"),
        "tf32": _auto_bool("Allow TF32 matmuls. auto: on where the GPU has them (Ampere or "
                           "newer), resolved by the runtime.", group="training"),
        "gradient_checkpointing": _bool("Recompute activations to save memory "
                                        "(use_reentrant: false).", axolotl=True, group="training"),
        "seed": _int("Random seed (training and data splits).", 42, axolotl=True, group="training"),
        # -- outputs and logging -----------------------------------------------------------
        "output_dir": _t("string", "Where the adapter and logs go; default: the run folder's "
                         "output/.", group="output"),
        "logging_steps": _int("Log every N steps.", 10, minimum=1, group="output"),
        "save_steps": _int("Checkpoint every N steps; unset: at the end of each epoch, as in "
                           "Axolotl.", minimum=1, group="output"),
        "save_total_limit": _int("Checkpoints kept.", 4, minimum=1, group="output",
                                 axolotl=True),
        "eval_steps": _int("Evaluate every N steps (needs val_set_size).", minimum=1,
                           group="output"),
        "resume_from_checkpoint": _t("string", "Resume from this checkpoint folder.",
                                     group="output"),
        "wandb_project": _t("string", "Weights & Biases project (enables reporting).",
                            group="output"),
        "wandb_entity": _t("string", "Weights & Biases entity.", group="output"),
        "wandb_name": _t("string", "Weights & Biases run name; defaults to the run id.",
                         group="output"),
        "wandb_mode": _enum(["online", "offline", "disabled"], "Weights & Biases mode.",
                            group="output"),
        # -- distribution ------------------------------------------------------------------
        "deepspeed": {"anyOf": [{"type": "string"}, {"type": "object"}],
                      "description": "DeepSpeed: a preset (zero1, zero2, zero3, zero2_offload, "
                      "zero3_offload), a JSON file, or an inline mapping.",
                      "group": "distributed"},
        "fsdp": {**_FSDP, "group": "distributed"},
    }


# Axolotl keys peftc does not take, with what to do instead.
UNSUPPORTED: dict[str, str] = {
    "dataset_prepared_path": "peftc tokenizes on the fly; remove it",
    "lora_model_dir": "use sft_adapter to start from an existing adapter",
    "peft": "use loftq_config at the top level",
    "fsdp_config": "use the fsdp mapping",
    "special_tokens": "the tokenizer's own special tokens are used; pad falls back to eos",
    "tokens": "adding tokens is not supported",
    "hub_model_id": "push the adapter from output_dir yourself",
    "hub_strategy": "push the adapter from output_dir yourself",
    "gptq": "GPTQ models are not supported; use load_in_4bit",
    "xformers_attention": "use attn_implementation",
    "sdp_attention": "use attn_implementation: sdpa",
    "s2_attention": "use attn_implementation",
    "flash_attn_cross_entropy": "not supported",
    "flash_attn_rms_norm": "not supported",
    "unsloth_lora_mlp": "not supported",
    "unsloth_lora_qkv": "not supported",
    "unsloth_lora_o": "not supported",
    "plugins": "not supported",
    "torch_compile": "not supported",
    "local_rank": "set by the launcher",
    "strict": "peftc is always strict",
    "debug": "not supported",
    "early_stopping_patience": "not supported",
    "group_by_length": "not supported",
    "evals_per_epoch": "use eval_steps",
    "saves_per_epoch": "use save_steps",
    "eval_table_size": "use sample_prompts",
    "is_llama_derived_model": "use model_family",
    "is_mistral_derived_model": "use model_family",
    "is_qwen_derived_model": "use model_family",
    "model_type": "peftc always loads AutoModelForCausalLM",
    "tokenizer_type": "peftc always loads AutoTokenizer",
    "lora_fan_in_fan_out": "not supported",
    "relora_cpu_offload": "not supported",
    "max_memory": "not supported",
    "gpu_memory_limit": "not supported",
    "test_datasets": "use val_set_size",
    "shuffle_merged_datasets": "datasets are concatenated and split with the seed",
    "chat_template_jinja": "put the Jinja template in chat_template",
    "lr_quadratic_warmup": "not supported",
    "load_best_model_at_end": "not supported",
    "auto_resume_from_checkpoints": "peftc resumes interrupted runs by itself",
}

# Accepted second spellings: alias -> canonical key.
ALIASES: dict[str, str] = {"dpo_beta": "rl_beta", "lora_rank": "lora_r"}


def settings_keys() -> list[str]:
    return list(_settings())


def build_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file."""
    settings = _settings()
    refs = {k: {"$ref": f"#/properties/{k}"} for k in settings}
    aliases = {a: {"$ref": f"#/properties/{c}", "description": f"Alias of {c}."}
               for a, c in ALIASES.items()}
    overlay = {"type": "object", "additionalProperties": False, "properties": refs}
    stage = {"type": "object", "additionalProperties": False,
             "description": "A pipeline stage: settings over the spec's own.",
             "properties": {**refs, **aliases,
                            "depends_on": {**_STR_LIST, "description": "Stages to run first "
                                           "(found from ${stages.NAME...} references too)."}}}
    structural = {
        "extends": {"type": ["string", "array"], "items": {"type": "string"},
                    "description": "Spec file(s) this one builds on (paths relative to it).",
                    "group": "spec"},
        "name": _t("string", "Readable name used in run ids.", pattern="^[A-Za-z0-9._-]+$",
                   group="spec"),
        "profile": _t("string", "Train profile: auto (the task plugin's; none without one), none, "
                      "a built-in (paper_code_ift, paper_default_ift, paper_math_ift) or one "
                      "in profiles.",
                      "auto", group="spec"),
        "profiles": {"type": "object", "additionalProperties": overlay,
                     "description": "User train profiles: name -> settings.", "group": "spec"},
        "sweep": {"type": "object", "group": "spec",
                  "description": "Axes: key (dotted for nested) -> list of values; the grid is "
                  "their product, first key outermost. `paired` zips axes, `exclude` drops "
                  "points.",
                  "properties": {
                      "paired": {"type": "array", "items": {
                          "type": "object", "additionalProperties": {"type": "array"}},
                          "description": "Groups of axes whose values move together."},
                      "exclude": {"type": "array", "items": {"type": "object"},
                                  "description": "Points to drop: key -> value mappings."}},
                  "additionalProperties": {"type": "array", "minItems": 1}},
        "stages": {"type": "object", "additionalProperties": stage, "group": "spec",
                   "description": "Pipeline stages in order (e.g. sft then dpo); each is a "
                   "run per sweep point."},
        "lint": {**_LINT, "group": "spec"},
        "cluster": {**_CLUSTER, "group": "spec"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://peftc.dev/schema/spec.json",
        "title": "peftc spec",
        "description": "A peftc fine-tuning spec (Axolotl-compatible keys).",
        "type": "object",
        "additionalProperties": False,
        "properties": {**settings, **aliases, **structural},
    }
