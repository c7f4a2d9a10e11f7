"""`compile` reports what `lint` reports, filtered the same way; errors cannot be silenced."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "alpaca.jsonl"
SPEC = f"""\
base_model: peftc:tiny-llama
profile: none
adapter: lora
datasets:
  - path: {DATA}
    type: alpaca
micro_batch_size: 8
max_steps: 60
learning_rate: 3.0e-3{{inline}}
warmup_steps: 10
{{extra}}"""


def spec(write_spec, inline: str = "", extra: str = "") -> Path:
    return write_spec(SPEC.format(inline=inline, extra=extra))


@pytest.mark.parametrize("inline, extra", [
    ("  # peftc: ignore[W110]", ""),
    ("", "lint: {ignore: [W110]}\n"),
    ("", "lint: {severity: {W110: 'off'}}\n"),
])
def test_compile_applies_lint_suppressions(write_spec, cli, tmp_path, inline, extra):
    code, _, err = cli("compile", spec(write_spec), "-o", tmp_path / "loud")
    assert code == 0 and "W110 warning: learning_rate" in err  # the advisor speaks in compile
    path = spec(write_spec, inline, extra)
    code, _, err = cli("compile", path, "-o", tmp_path / "quiet")
    assert code == 0 and "W110" not in err
    assert cli("lint", path)[2].startswith("1 file(s) checked: 0 error(s), 0 warning(s)")


def test_a_warning_raised_to_an_error_stops_compile(write_spec, cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = cli("compile", spec(write_spec, extra="lint: {severity: {W110: error}}\n"),
                       "-o", out)
    assert code == 1 and "spec.yaml:9:16: W110 error: learning_rate" in err
    assert not out.exists()


def test_the_advisors_errors_stop_compile_before_anything_is_written(write_spec, cli, tmp_path):
    out = tmp_path / "out"
    path = spec(write_spec, extra="lr_scheduler_kwargs: {gamma: 0.5}\n")
    code, _, err = cli("compile", path, "-o", out)
    assert code == 1 and "spec.yaml:11:30: E701 error: lr_scheduler 'cosine' does not take" in err
    assert not out.exists()
    assert "E701" in cli("lint", path)[1]


def test_an_error_cannot_be_ignored(write_spec, cli, tmp_path):
    path = spec(write_spec, extra="lint:\n  ignore: [W110, E701]\n  severity: {E209: warning}\n")
    code, out, _ = cli("lint", path)
    assert code == 1
    assert "spec.yaml:12:18: E102 error: E701 is an error and cannot be ignored" in out
    assert "spec.yaml:13:14: E102 error: E209 is an error" in out
    code, _, err = cli("lint", "--ignore", "W110,E701", spec(write_spec))
    assert code == 2 and "--ignore E701: E701 is an error and cannot be ignored" in err
    (tmp_path / "pyproject.toml").write_text('[tool.peftc]\nignore = ["E213"]\n')
    code, _, err = cli("compile", spec(write_spec), "-o", tmp_path / "out")
    assert code == 2 and "pyproject.toml: E000 error: [tool.peftc]: E213 is an error" in err


def test_an_error_that_judges_a_sample_can_be_ignored(write_spec, cli, tmp_path):
    """E217 reads a file's first rows only: a role may appear further down."""
    data = tmp_path / "chat.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, '
                    '{"role": "assistant", "content": "hello"}]}\n')
    text = (f"base_model: peftc:tiny-llama\nprofile: none\nmax_steps: 2\ndatasets:\n"
            f"  - path: {data}\n    type: chat_template\n    roles_to_train: [assistant, tool]\n")
    code, out, _ = cli("lint", write_spec(text))
    assert code == 1 and "E217" in out
    code, _, err = cli("compile", write_spec(text + "lint: {ignore: [E217]}\n"),
                       "-o", tmp_path / "out")
    assert code == 0 and "E217" not in err
