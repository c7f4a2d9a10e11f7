"""`peftc lint`: located diagnostics, exit codes, formats, never a traceback."""

import contextlib
import io
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES

GOOD = """
base_model: peftc:tiny-llama
profile: none
datasets:
  - path: tatsu-lab/alpaca
learning_rate: 2.0e-4
"""


def test_typo_gets_did_you_mean(write_spec, cli):
    spec = write_spec(GOOD + "lora_alpah: 16\n")
    code, out, _ = cli("lint", spec)
    assert code == 1
    assert f"{spec}:6:1: E100 error: unknown key 'lora_alpah' (did you mean 'lora_alpha'?)" \
        in out


def test_every_problem_in_one_pass(write_spec, cli):
    spec = write_spec("""
        base_model: peftc:tiny-llama
        lora_r: "16"
        lora_dropout: 1.5
        adapter: lroa
        optimizer: adamw
        bf16: maybe
        micro_batch_szie: 2
        """)
    code, out, _ = cli("lint", spec)
    assert code == 1
    lines = out.splitlines()
    assert any(":2:9: E101" in x and "'lora_r' must be an integer, got a string '16'" in x
               for x in lines)
    assert any(":3:15: E103" in x and "must be <= 1" in x for x in lines)
    assert any(":4:10: E102" in x and "(did you mean 'lora'?)" in x for x in lines)
    assert any(":5:12: E102" in x for x in lines)
    assert any(":6:7: E102" in x and "'bf16' must be one of 'auto' or true or false" in x
               for x in lines)
    code, out, _ = cli("lint", write_spec("base_model: peftc:tiny-llama\nsequence_len: auto\n",
                                          "auto.yaml"))
    assert code == 1 and "only where the machine decides (bf16, tf32)" in out
    assert any(":7:1: E100" in x and "micro_batch_size" in x for x in lines)


def test_duplicate_key_and_syntax_error_messages(write_spec, cli):
    code, out, err = cli("lint", "--all", write_spec("lora_r: 8\nlora_r: 16\n"))
    assert code == 1 and "E002" in out and "duplicate key 'lora_r'" in out
    code, out, err = cli("lint", "--all", write_spec("a: [1, 2\n", "bad.yaml"))
    assert code == 1 and "E001" in out and "Traceback" not in out + err


def test_yaml11_trap_is_explained(write_spec, cli):
    spec = write_spec(GOOD + "tokenizer_config: no\n")
    code, out, _ = cli("lint", spec)
    assert code == 1 and "E101" in out and "'no'" in out and "quotes" in out


def test_axolotl_keys_by_way(write_spec, cli):
    """Refused and not-yet-supported keys are located errors that say what to do; speed hints
    and renamed keys are warnings, and the run is as if the hint were absent."""
    code, out, _ = cli("lint", write_spec(GOOD + "gptq: true\nuse_tensorboard: true\n"))
    assert code == 1
    assert ":6:1: E105 error: 'gptq' is an Axolotl key peftc does not take" in out
    assert "hint: GPTQ models are not supported; use load_in_4bit" in out
    assert ":7:1: E107 error: 'use_tensorboard' is an Axolotl key peftc does not support " \
           "yet" in out
    code, out, _ = cli("lint", write_spec(GOOD + "plugins: [x.LigerPlugin]\nliger_rope: true\n"
                                          "dpo_beta: 0.2\n", "hints.yaml"))
    assert code == 0
    assert ":6:1: W204 warning: 'plugins' only changes speed" in out
    assert ":7:1: W204 warning: 'liger_rope'" in out
    assert ":8:1: W205 warning: 'dpo_beta' is Axolotl's old name of 'rl_beta'" in out
    code, out, _ = cli("lint", write_spec(GOOD + "wandb_project:\nplugins:\n", "nulls.yaml"))
    assert code == 0 and "W204" not in out  # empty means unset, for every way


def test_missing_file_is_exit_2(cli, tmp_path):
    code, out, err = cli("lint", tmp_path / "nope.yaml")
    assert code == 2 and "E005" in out


def test_json_and_github_formats(write_spec, cli):
    spec = write_spec(GOOD + "lora_alpah: 16\n")
    code, out, _ = cli("lint", "--format", "json", spec)
    [d] = [x for x in json.loads(out) if x["code"] == "E100"]
    assert (d["line"], d["column"], d["severity"]) == (6, 1, "error")
    code, out, _ = cli("lint", "--format", "github", spec)
    assert out.startswith(f"::error file={spec},line=6,col=1,title=peftc E100::")


def test_clean_spec_exits_zero(write_spec, cli):
    code, out, err = cli("lint", write_spec(GOOD))
    assert code == 0 and out == ""
    assert "0 error(s)" in err


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_lints_clean(path, cli):
    code, out, err = cli("lint", "--strict", path)
    assert code == 0, out + err
    assert out == ""


@pytest.mark.parametrize("text", [
    "\x00\x01", "a: !!python/object:os.system x\n", "? [a]\n: 1\n", "a: *nope\n",
    "datasets: 5\n", "sweep: {lora_r: 8}\n", "stages: [a]\n", "extends: 3\n", "[[[[\n",
    "base_model: x\nextends: missing.yaml\n", "lora_r: 1e400\n",
])
def test_no_input_gives_a_traceback(write_spec, cli, text):
    code, out, err = cli("lint", "--all", write_spec(text))
    assert code in (1, 2)
    assert "Traceback" not in out + err and "internal error" not in err


KEYS = ["base_model", "lora_r", "adapter", "sweep", "datasets", "stages", "extends", "lint",
        "profile", "lr_scheduler_kwargs", "task", "deepspeed", "fsdp", "rl", "learning_rate"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=200),
    st.dictionaries(st.sampled_from(KEYS), st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                  st.text(max_size=20)),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from([*KEYS, "x", "0"]),
                                                            c, max_size=3),
        max_leaves=12), max_size=6).map(lambda d: yaml.safe_dump(d)),
))
def test_fuzzed_specs_never_crash(tmp_path, text):
    from peftc.cli import main

    spec = tmp_path / "fuzz.yaml"
    spec.write_text(text, encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()) as out, \
            contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["lint", "--all", str(spec)])
    assert code in (0, 1, 2), (text, out.getvalue(), err.getvalue())
    assert "internal error" not in err.getvalue() and "Traceback" not in err.getvalue()


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_compiles(path, tmp_path):
    from peftc.compiler import compile_spec

    compiled = compile_spec(path, tmp_path / "out", slurm=False)
    assert compiled.runs and compiled.result.status == "written"
    for run in compiled.runs:
        assert (tmp_path / "out" / "runs" / run.run_id / "run.yaml").is_file()
