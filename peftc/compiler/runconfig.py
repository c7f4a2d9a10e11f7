"""Resolved values -> the `run.yaml` sections the runtime passes to library constructors.

The keyword names here are those of the versions pinned in pyproject.toml (PEFT 0.21,
TRL 1.16, transformers 5); a contract test instantiates every class with them.
See docs/run-format.md for the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peftc import __version__
from peftc.compiler.launchfiles import fsdp_settings
from peftc.compiler.paths import LOCAL_SUFFIXES, candidates, find_local, looks_local
from peftc.compiler.resolved import ResolvedRun
from peftc.vocab import catalog
from peftc.vocab.chat_templates import FALLBACK, JINJA, TOKENIZER_DEFAULT
from peftc.vocab.datasets import Trainer
from peftc.vocab.keys import CHAT_OPTIONS
from peftc.vocab.methods import INIT_LOFTQ, METHODS, Peft


def build(run: ResolvedRun, spec_dir: Path) -> dict[str, Any]:
    v = run.values
    kind = Trainer.of(v.get("rl"))
    output_dir = v["output_dir"]
    run_name = v.get("wandb_name") or run.run_id  # Axolotl: run_name is wandb_name
    return {
        "peftc_version": __version__,
        "run_id": run.run_id,
        "stage": run.stage,
        "depends_on": list(run.depends_on),
        "output_dir": output_dir,
        "model": _model(v, spec_dir),
        "precision": {"bf16": v["bf16"], "fp16": v["fp16"], "tf32": v["tf32"],
                      "bfloat16": v["bfloat16"],
                      "float16": v["float16"]},
        "tokenizer": {
            "name_or_path": _maybe_local(v["tokenizer_config"], spec_dir),
            "class": v["tokenizer_type"],
            "padding_side": v["padding_side"],
            "special_tokens": v.get("special_tokens"),
            "tokens": v.get("tokens"),
            "added_tokens_overrides": v.get("added_tokens_overrides"),
            **_chat_template(v),
        },
        "quantization": _quantization(v),
        "adapter": _adapter(v, spec_dir),
        "data": _data(v, spec_dir, kind),
        "trainer": _trainer(v, kind, output_dir, run_name, spec_dir),
        "samples": {"prompts": list(v.get("sample_prompts") or []),
                    "max_new_tokens": v["sample_max_new_tokens"]},
        "batch": {
            "micro_batch_size": v["micro_batch_size"],
            "gradient_accumulation_steps": v["gradient_accumulation_steps"],
            "num_gpus": v["num_gpus"],
            "global_batch_size": v.get("global_batch_size"),
            "effective_global_batch_size": v["effective_global_batch_size"],
        },
        "report": {"wandb": _wandb(v, run_name)},
        "launch": {
            "num_processes": v["num_gpus"],
            "num_machines": v["num_machines"],
            "deepspeed": "deepspeed.json" if v.get("deepspeed") else None,
            "fsdp": fsdp_settings(v) is not None,
            "accelerate_config": "accelerate.yaml",
        },
    }


def _reports_to_wandb(v: dict[str, Any]) -> bool:
    """A non-empty wandb_project reports whatever use_wandb says, as in Axolotl."""
    return bool(v.get("wandb_project") or v.get("use_wandb"))


def _wandb(v: dict[str, Any], run_name: str) -> dict[str, Any] | None:
    """W&B's settings when the run reports there; the runtime hands them to transformers'
    WandbCallback."""
    if not _reports_to_wandb(v):
        return None
    def off(key: str) -> str:  # transformers' word for "no"
        return "false" if v.get(key) in (None, False) else v[key]

    return {"project": v.get("wandb_project"), "entity": v.get("wandb_entity"),
            "name": run_name, "run_id": v.get("wandb_run_id"),
            "watch": off("wandb_watch"), "log_model": off("wandb_log_model"),
            "mode": v.get("wandb_mode")}


def _chat_template(v: dict[str, Any]) -> dict[str, Any]:
    """``chat_template``: a name, Jinja text or None (the tokenizer's own);
    ``chat_template_fallback``: the name to use when the tokenizer has none."""
    template = v["chat_template"]
    if template.startswith(FALLBACK):
        return {"chat_template": None, "chat_template_fallback": template[len(FALLBACK):]}
    if template == JINJA:
        template = v["chat_template_jinja"]
    return {"chat_template": None if template == TOKENIZER_DEFAULT else template,
            "chat_template_fallback": None}


def _maybe_local(path: str, spec_dir: Path) -> str:
    """A path that exists (beside the spec, else in the working directory) becomes absolute;
    anything else is a hub id."""
    if path.startswith("peftc:"):
        return path
    found = find_local(path, spec_dir)
    if found is not None:
        return str(found.resolve())
    return str((spec_dir / path).resolve()) if path.startswith((".", "~")) else path


def _abs(path: str, spec_dir: Path) -> str:
    return path if Path(path).is_absolute() else str((spec_dir / path).resolve())


def _model(v: dict[str, Any], spec_dir: Path) -> dict[str, Any]:
    return {
        "name_or_path": _maybe_local(v["base_model"], spec_dir),
        "class": v["model_type"],
        "family": v.get("model_family"),
        "config_overrides": v.get("model_config"),
        "from_pretrained": {
            "revision": v.get("revision_of_model"),
            "trust_remote_code": v["trust_remote_code"],
            "attn_implementation": v["attn_implementation"],
        },
        "gradient_checkpointing": v["gradient_checkpointing"],
        "gradient_checkpointing_kwargs": _checkpointing_kwargs(v),
        "resize_to_multiple_of": 32 if v["resize_token_embeddings_to_32x"] else None,
    }


def _checkpointing_kwargs(v: dict[str, Any]) -> dict[str, Any]:
    return dict(v.get("gradient_checkpointing_kwargs") or {"use_reentrant": False})


def _quantization(v: dict[str, Any]) -> dict[str, Any] | None:
    if v.get("load_in_4bit"):
        return {"load_in_4bit": True, "bnb_4bit_quant_type": v["bnb_4bit_quant_type"],
                "bnb_4bit_use_double_quant": v["bnb_4bit_use_double_quant"]}
    if v.get("load_in_8bit"):
        return {"load_in_8bit": True}
    return None


def _lora_config(v: dict[str, Any]) -> dict[str, Any]:
    init = v.get("peft_init_lora_weights")
    cfg: dict[str, Any] = {
        "task_type": "CAUSAL_LM",
        "r": v["lora_r"],
        "lora_alpha": v["lora_alpha"],
        "lora_dropout": v["lora_dropout"],
        "bias": v["lora_bias"],
        "fan_in_fan_out": v["lora_fan_in_fan_out"],
        "target_modules": v.get("lora_target_modules"),
        "modules_to_save": v.get("lora_modules_to_save"),
        "use_dora": v["peft_use_dora"],
        "use_rslora": v["peft_use_rslora"],
        "init_lora_weights": True if init is None else init,
    }
    if init == INIT_LOFTQ:
        cfg["loftq_config"] = dict(v["loftq_config"])
    return cfg


def _adapter(v: dict[str, Any], spec_dir: Path) -> dict[str, Any]:
    method = v["adapter"]
    peft = METHODS[method].peft
    if peft is Peft.LORA:
        config = _lora_config(v)
    elif peft is Peft.ADALORA:
        config = _lora_config(v)
        for k in ("use_dora", "loftq_config"):
            config.pop(k, None)
        config.update({"init_r": v["adalora_init_r"], "target_r": v["adalora_target_r"],
                       "total_step": v.get("adalora_total_step"),
                       "tinit": v.get("adalora_tinit"), "tfinal": v.get("adalora_tfinal"),
                       "deltaT": v.get("adalora_deltaT")})
    elif peft is Peft.IA3:
        config = {"task_type": "CAUSAL_LM", "target_modules": v.get("ia3_target_modules"),
                  "feedforward_modules": v.get("ia3_feedforward_modules"),
                  "modules_to_save": v.get("lora_modules_to_save")}
    else:
        config = {"task_type": "CAUSAL_LM", "num_virtual_tokens": v["num_virtual_tokens"]}
        if peft is Peft.PROMPT_TUNING:
            text = v.get("prompt_tuning_init_text")
            config["prompt_tuning_init"] = "TEXT" if text else "RANDOM"
            if text:
                config["prompt_tuning_init_text"] = text
                config["tokenizer_name_or_path"] = _maybe_local(v["tokenizer_config"], spec_dir)
        elif peft is Peft.PREFIX_TUNING:
            config["prefix_projection"] = v["prefix_projection"]
        else:
            config["encoder_hidden_size"] = v["encoder_hidden_size"]
    resume = v.get("lora_model_dir")
    # DPO merges the adapter first, then trains a fresh one
    dpo_merges = bool(resume) and Trainer.of(v.get("rl")) is Trainer.DPO
    loraplus = None
    if v.get("loraplus_lr_ratio") is not None:
        emb = v.get("loraplus_lr_embedding")
        loraplus = {"lr_ratio": float(v["loraplus_lr_ratio"]),
                    "lr_embedding": 1e-6 if emb is None else emb}
    relora = None
    if v.get("relora"):
        relora = {"steps": v["jagged_restart_steps"], "prune_method": v["relora_prune_method"],
                  "prune_ratio": v["relora_prune_ratio"]}
    return {
        "method": method,
        "peft_class": peft.value,
        "config": config,
        "prepare_kbit": bool(v.get("load_in_4bit") or v.get("load_in_8bit")),
        "from_adapter": None if dpo_merges else _local_path(resume, spec_dir),
        "sft_adapter": _sft_adapter(v, spec_dir, resume if dpo_merges else None),
        "relora": relora,
        "loraplus": loraplus,
        "unfrozen_parameters": [{"pattern": p, "regex": catalog.param_regex(p)}
                                for p in v.get("unfrozen_parameters") or []] or None,
    }


def _sft_adapter(v: dict[str, Any], spec_dir: Path, first: str | None) -> dict[str, Any] | None:
    """Adapters merged into the base before the run's own: ``first`` (a DPO run's
    lora_model_dir), then sft_adapter's chain."""
    sft = v.get("sft_adapter")
    chain = [_local_path(first, spec_dir)] if first else []
    chain += [_abs(p, spec_dir) for p in (v.get("sft_adapter_chain") or [sft] if sft else [])]
    if not chain:
        return None
    return {"path": _abs(sft, spec_dir) if sft else chain[0], "chain": chain,
            "fallback_to_base": v["sft_adapter_fallback"] if sft else False}


def fields_of(ds: dict[str, Any]) -> dict[str, str]:
    """A dataset entry's column mapping for its formatter: ``field_instruction: question``
    -> ``{instruction: question}``."""
    return {k[len("field_"):]: val for k, val in ds.items() if k.startswith("field_")}


def _data(v: dict[str, Any], spec_dir: Path, kind: Trainer) -> dict[str, Any]:
    items = []
    for ds in v["datasets"]:
        path = ds["path"]
        local_path = find_local(path, spec_dir)
        local = local_path is not None or looks_local(path)
        if local_path is None and local:  # not here (W213): where the run executes
            local_path = candidates(path, spec_dir)[0]
        builder = ds.get("ds_type")
        if local_path is not None and builder is None and not local_path.is_dir():
            builder = LOCAL_SUFFIXES.get(local_path.suffix.lower())
        fields = fields_of(ds)
        chat = {}
        if ds["type"] == "chat_template":  # filled as Axolotl fills them (derive)
            chat = {"message_property_mappings": ds["message_property_mappings"],
                    "roles": ds["roles"],
                    "message_field_training": ds.get("message_field_training"),
                    "chat_template": ds.get("chat_template"),  # its own: a name or Jinja
                    **{k: ds[k] for k in CHAT_OPTIONS}}
        items.append({
            "path": str(local_path.resolve()) if local_path is not None else path,
            "local": local,
            "builder": builder,
            "name": ds.get("name"),
            "revision": ds.get("revision"),
            "split": ds["split"],
            "data_files": ds.get("data_files"),
            "type": ds["type"],
            "fields": fields,
            **chat,
        })
    return {
        "datasets": items,
        "val_set_size": v["val_set_size"],
        "shuffle_seed": v["seed"],
        "shuffle": v["shuffle_merged_datasets"],
        "deduplicate": bool(v.get("dataset_exact_deduplication")),
        "excess_length": v["excess_length_strategy"],
        "prepared_path": _abs(v["dataset_prepared_path"], spec_dir)
        if v.get("dataset_prepared_path") else None,
        "train_on_inputs": v["train_on_inputs"],
        "eot_tokens": v.get("eot_tokens"),
        "chat_template_kwargs": v.get("chat_template_kwargs"),
        "max_prompt_length": v.get("max_prompt_len") if kind is Trainer.DPO else None,
    }


def _trainer(v: dict[str, Any], kind: Trainer, output_dir: str, run_name: str,
             spec_dir: Path) -> dict[str, Any]:
    warmup = v["warmup_steps"] if v.get("warmup_steps") is not None else v["warmup_ratio"]
    cfg: dict[str, Any] = {
        "output_dir": output_dir,
        "run_name": run_name,
        "per_device_train_batch_size": v["micro_batch_size"],
        "per_device_eval_batch_size": v.get("eval_batch_size") or v["micro_batch_size"],
        "gradient_accumulation_steps": v["gradient_accumulation_steps"],
        "learning_rate": v["learning_rate"],
        "lr_scheduler_type": v["lr_scheduler"],
        "lr_scheduler_kwargs": dict(v["lr_scheduler_kwargs"]),
        "warmup_steps": warmup,
        "num_train_epochs": float(v["num_epochs"]),
        "max_steps": v["max_steps"] if v.get("max_steps") is not None else -1,
        "optim": v["optimizer"],
        "weight_decay": v["weight_decay"],
        "adam_beta1": v["adam_beta1"],
        "adam_beta2": v["adam_beta2"],
        "adam_epsilon": v["adam_epsilon"],
        "max_grad_norm": v["max_grad_norm"],
        "activation_checkpointing": v["gradient_checkpointing"],  # transformers 5.23's name
        "activation_checkpointing_kwargs": _checkpointing_kwargs(v),
        "activation_offloading": v["activation_offloading"],  # the runtime: off without a GPU
        # as Axolotl: the setting under DDP, transformers' choice on one process
        "ddp_find_unused_parameters": v["ddp_find_unused_parameters"] if v["num_gpus"] > 1
        else None,
        "seed": v["seed"],
        "data_seed": v["seed"],
        "logging_steps": v["logging_steps"],
        "save_strategy": v["save_strategy"],
        "save_steps": v.get("save_steps"),
        "save_total_limit": v["save_total_limit"],
        "eval_strategy": v["eval_strategy"],
        "eval_steps": v.get("eval_steps"),
        "eval_on_start": v["eval_on_start"],  # Axolotl: a baseline before step 1
        "load_best_model_at_end": v["load_best_model_at_end"],
        "metric_for_best_model": v.get("metric_for_best_model"),
        "greater_is_better": v.get("greater_is_better"),
        "report_to": ["wandb"] if _reports_to_wandb(v) else [],
        "max_length": v["sequence_len"],
        "padding_free": v["padding_free"],
        "remove_unused_columns": v["remove_unused_columns"],
        "dataset_num_proc": v.get("dataset_num_proc"),
        "pad_to_multiple_of": v["sequence_len"] if v["pad_to_sequence_len"] else None,
    }
    if kind is Trainer.SFT:
        cfg.update({
            "packing": v["sample_packing"],
            "packing_strategy": v["packing_strategy"],
            "eval_packing": v["eval_sample_packing"],
            "completion_only_loss": not v["train_on_inputs"],
            # chat rows are masked whatever train_on_inputs says: with it, every turn's
            # content trains, and the role headers still do not (as in Axolotl)
            "assistant_only_loss": any(d["type"] == "chat_template" for d in v["datasets"]),
            "neftune_noise_alpha": v.get("neftune_noise_alpha"),
        })
        if cfg["padding_free"] and not cfg["packing"]:
            cfg["max_length"] = None  # TRL: padding_free without packing needs max_length None
    else:
        loss = v["dpo_loss_type"]
        cfg.update({"beta": v["rl_beta"], "loss_type": loss if isinstance(loss, list)
                    else [loss]})
    jagged = None
    if v.get("jagged_restart_steps"):  # Axolotl's floor: cosine_min_lr_ratio, else 0.001
        jagged = {"steps": v["jagged_restart_steps"],
                  "warmup_steps": v["jagged_restart_warmup_steps"],
                  "anneal_steps": v["jagged_restart_anneal_steps"],
                  "min_lr_scale": v["cosine_min_lr_ratio"] or 0.001}
    return {"kind": kind.value, "config_class": kind.config_class,
            "config": cfg, "max_warmup_steps": v.get("max_warmup_steps"), "jagged_lr": jagged,
            "early_stopping_patience": v.get("early_stopping_patience"),
            "loss_watchdog": None if v.get("loss_watchdog_threshold") is None else {
                "threshold": v["loss_watchdog_threshold"],
                "patience": v["loss_watchdog_patience"]},
            "resume_from_checkpoint": _local_path(v.get("resume_from_checkpoint"), spec_dir)}


def _local_path(path: str | None, spec_dir: Path) -> str | None:
    """A local path made absolute: where it is found (beside the spec, then in the working
    directory), else its first candidate. The runtime checks that it is there: it may be
    written after compile, by an earlier run."""
    if path is None:
        return None
    return str((find_local(path, spec_dir) or candidates(path, spec_dir)[0]).resolve())
