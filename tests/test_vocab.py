"""The key table: one record per key, and each honoured key reaches the run.yaml field it names."""

import yaml

from peftc.compiler import compile_spec
from peftc.vocab.keys import KEYS, OTHERS, SETTINGS
from peftc.vocab.methods import NAMES as ADAPTERS
from tests.conftest import EXAMPLES


def test_each_key_has_one_record():
    names = [k.name for k in (*SETTINGS, *OTHERS)]
    assert len(names) == len(set(names)) == len(KEYS)


def _has(run: dict, dotted: str) -> bool:
    node = run
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


DATA = EXAMPLES / "data" / "alpaca.jsonl"
VARIANTS = [f"adapter: {a}\n" for a in ADAPTERS] + [
    "loraplus_lr_ratio: 16\nrelora_steps: 5\npeft_init_lora_weights: loftq\n"
    "sft_adapter: missing\nsft_adapter_fallback: true\n",
    "adapter: prompt_tuning\nprompt_tuning_init_text: Answer\n",
    "peft: {loftq_config: {loftq_bits: 4}}\n",
    "load_in_8bit: true\nloss_watchdog_threshold: 4\nwandb_project: p\n",
    f"rl: dpo\ndatasets: [{{path: {DATA.with_name('preference.jsonl')}, type: preference}}]\n",
]


def test_each_settings_run_field_is_in_run_yaml(write_spec, tmp_path):
    """Every method's run.yaml, with the optional sections switched on somewhere."""
    runs = []
    for i, extra in enumerate(VARIANTS):
        if "datasets" not in extra:
            extra += f"datasets: [{{path: {DATA}}}]\n"
        spec = write_spec("base_model: peftc:tiny-llama\nmax_steps: 10\n" + extra, f"v{i}.yaml")
        result = compile_spec(spec, tmp_path / str(i))
        runs += [yaml.safe_load((tmp_path / str(i) / "runs" / r.run_id / "run.yaml")
                                .read_text()) for r in result.runs]
    for key in SETTINGS:
        if key.run is not None:
            assert any(_has(run, key.run) for run in runs), f"{key.name} -> {key.run}"


def test_optimizers_are_transformers_names():
    """Axolotl hands any optimizer it does not build itself to transformers' `optim`."""
    from transformers.training_args import OptimizerNames

    from peftc.vocab.keys import OPTIMIZERS

    assert OPTIMIZERS == [o.value for o in OptimizerNames]


def test_each_dataset_type_has_its_formatter():
    """Each type's record names a formatter of the runtime, which takes the record's options;
    and every formatter the runtime has serves some type (the two key sets are equal)."""
    import inspect

    from peftc.runtime import formatters
    from peftc.vocab.datasets import DATASET_TYPES

    defined = {name for name, f in vars(formatters).items()
               if name.startswith("format_") and inspect.isfunction(f)}
    assert {t.formatter for t in DATASET_TYPES.values()} == defined
    for dtype in DATASET_TYPES.values():
        params = inspect.signature(getattr(formatters, dtype.formatter)).parameters
        assert set(dtype.options) <= set(params), dtype.name
        variant = dtype.options.get("variant")  # the markup types read their prompt column
        assert variant in (None, "argilla_chat") or variant in formatters.MARKUP_PROMPT


def test_each_scheduler_record_matches_transformers():
    """What a scheduler record says its function takes is what transformers' function (or,
    for reduce_lr_on_plateau, torch's ReduceLROnPlateau) declares; a scheduler built without
    the warmup step count declares none."""
    import inspect

    from torch.optim.lr_scheduler import ReduceLROnPlateau
    from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION
    from transformers.trainer_utils import SchedulerType

    from peftc.vocab.schedulers import SCHEDULERS

    passed = {"optimizer", "num_warmup_steps", "num_training_steps"}
    for name, sched in SCHEDULERS.items():
        function = TYPE_TO_SCHEDULER_FUNCTION[SchedulerType(name)]
        params = set(inspect.signature(function).parameters)
        assert ("num_warmup_steps" in params) == sched.warmup, name
        if sched.evaluates:
            params = set(inspect.signature(ReduceLROnPlateau).parameters)
        if sched.accepts is not None:
            assert params - passed == sched.accepts, name
        for key in (*sched.required, *sched.choices, *sched.unit, *sched.below_one):
            assert key in params, (name, key)


def test_each_trainer_names_its_trl_classes():
    """run.yaml's trainer.config_class is the vocabulary's, and TRL has it."""
    import trl

    from peftc.schema.runfile import run_schema
    from peftc.vocab.datasets import Trainer

    trainer = run_schema()["properties"]["trainer"]["properties"]
    assert trainer["kind"]["enum"] == [t.value for t in Trainer]
    for trainer in Trainer:
        assert getattr(trl, trainer.config_class).__name__ == trainer.config_class
        assert hasattr(trl, f"{trainer.name}Trainer")
