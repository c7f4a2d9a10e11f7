"""Merge a finished run's adapter into its base model (``merge_and_unload``) and save a plain
model folder that ``AutoModelForCausalLM.from_pretrained`` loads."""

from __future__ import annotations

from pathlib import Path

from peftc.runtime.errors import RuntimeConfigError


def merge(run_dir: Path, out_dir: Path) -> Path:
    """Merge the adapter of the run in ``run_dir`` into its unquantized base, save to
    ``out_dir`` (with the tokenizer) and return ``out_dir``."""
    from peft import PeftModel

    from peftc.runtime import precision
    from peftc.runtime.adapter import merge_sft_adapter
    from peftc.runtime.model import load_base, load_tokenizer
    from peftc.runtime.relora import load_base_weights
    from peftc.runtime.run import read_run
    from peftc.runtime.unfreeze import load_unfrozen

    spec = read_run(Path(run_dir))
    adapter_dir = Path(spec["output_dir"])
    if not (adapter_dir / "adapter_config.json").exists():
        raise RuntimeConfigError(f"no trained adapter in {adapter_dir}: run the training first",
                                 code="E611", field="output_dir")
    dtype = precision.resolve(spec.get("precision") or {}).dtype  # the dtype it trained in
    tokenizer = load_tokenizer(spec["tokenizer"])  # with the run's added tokens
    base = load_base(spec["model"], dtype, tokenizer)
    # a later stage trained on the earlier stages' adapters merged into the base: so is its merge
    base = merge_sft_adapter(base, spec["adapter"].get("sft_adapter"))
    load_base_weights(base, adapter_dir)  # ReLoRA restarts live in the base weights
    load_unfrozen(base, adapter_dir)  # so do unfrozen_parameters
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    if not hasattr(model, "merge_and_unload") or model.peft_config["default"].is_prompt_learning:
        raise RuntimeConfigError(
            f"adapter.method {spec['adapter']['method']}: prompt-learning adapters add virtual "
            "tokens and cannot be merged into the base weights", code="E617", field="adapter.method"
        )
    merged = model.merge_and_unload()
    out_dir = Path(out_dir)
    merged.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir
