"""A hand-edited run.yaml is checked before anything loads: its schema, then the names of its
keyword-argument sections against the installed classes, each problem at its line."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.conftest import make_run


def edit(run_dir: Path, old: str, new: str) -> int:
    """Replace ``old`` in run.yaml; the line it is on."""
    path = run_dir / "run.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[:text.index(old)].count("\n") + 1


def test_a_misspelt_key_stops_the_run_at_its_line_before_anything_loads(tmp_path, cli):
    run_dir = make_run(tmp_path)
    line = edit(run_dir, "  gradient_checkpointing: false", "  gradient_checkpoint: false")
    code, _, err = cli("run", run_dir)
    assert code == 1
    assert (f"{run_dir / 'run.yaml'}:{line}:3: E100 error: unknown key "
            "'model.gradient_checkpoint' (did you mean 'gradient_checkpointing'?)") in err
    assert not (tmp_path / "runs" / "tiny-llama-test" / "output").exists()  # nothing started


def test_an_argument_the_class_does_not_take_is_found_before_the_model_loads(tmp_path, cli):
    run_dir = make_run(tmp_path, adapter={"config": {"lora_dropot": 0.1}})
    line = edit(run_dir, "    learning_rate: 0.002", "    lerning_rate: 0.002")
    code, _, err = cli("run", run_dir)
    assert code == 1
    assert (f"run.yaml:{line}:5: E100 error: 'trainer.config.lerning_rate' is not an argument "
            "of SFTConfig (did you mean 'learning_rate'?)") in err
    assert ("E100 error: 'adapter.config.lora_dropot' is not an argument of LoraConfig "
            "(did you mean 'lora_dropout'?)") in err
    assert not (tmp_path / "runs" / "tiny-llama-test" / "output").exists()
