"""One pass: a schema error does not hide the semantic conflicts and advice on the rest,
and nothing is reported about a default standing in for a refused value."""

import re

import pytest

from tests.conftest import EXAMPLES

THREE = """\
base_model: peftc:tiny-llama
adapter: lora
lora_r: 8
lora_alpha: 256
lora_dropot: 0.1
bf16: true
fp16: true
datasets:
  - path: tatsu-lab/alpaca
    type: alpaca
micro_batch_size: 4
gradient_accumulation_steps: 4
max_steps: 10
"""


def _found(out: str) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for m in re.finditer(r"^\S+?:(\d+):\d+: (\w+) ", out, re.M)]


def test_three_mistakes_in_one_run(write_spec, cli):
    code, out, _ = cli("lint", write_spec(THREE))
    assert code == 1
    assert _found(out) == [(4, "W101"), (5, "E100"), (7, "E202")]  # once each, by line
    assert "unknown key 'lora_dropot' (did you mean 'lora_dropout'?)" in out
    assert "bf16 and fp16 are both on" in out and "lora_alpha 256 / lora_r 8" in out


def test_compile_reports_every_error_and_writes_nothing(write_spec, cli, tmp_path):
    code, _, err = cli("compile", write_spec(THREE), "-o", tmp_path / "out")
    assert code == 1
    assert {c for _, c in _found(err)} >= {"E100", "E202"}
    assert not (tmp_path / "out").exists()


def test_a_bad_value_in_a_base_keeps_the_child_checked(write_spec, cli):
    write_spec("lora_r: many\nlearning_rate: 2.0e-4\n", "base.yaml")
    spec = write_spec("extends: base.yaml\nbase_model: peftc:tiny-llama\nprofile: none\n"
                      "datasets:\n  - path: tatsu-lab/alpaca\nbf16: true\nfp16: true\n")
    code, out, _ = cli("lint", spec)
    assert code == 1
    assert re.search(r"base\.yaml:1:9: E101 error: 'lora_r' must be an integer", out)
    assert re.search(r"spec\.yaml:7:7: E202 error", out)


def test_a_misspelt_key_leaves_out_the_key_it_meant(write_spec, cli):
    """`lora_alpah: 16` is refused; W101 would judge the default lora_alpha in its place."""
    code, out, _ = cli("lint", write_spec(THREE.replace("lora_alpha: 256", "lora_alpah: 256")
                                          .replace("lora_dropot", "lora_dropout")))
    assert code == 1
    assert _found(out) == [(4, "E100"), (7, "E202")]


CORRUPT = "[[bad]]"  # a list of lists: wrong for every scalar setting
STRUCTURAL = {"base_model", "extends", "sweep", "stages", "profiles", "lint", "name",
              "profile"}


def _corruptions(text: str):
    """(line number, text) with one top-level scalar value or one dataset field made bad."""
    lines = text.splitlines()
    section = None
    for i, line in enumerate(lines):
        top = re.match(r"^([a-z_0-9]+):", line)
        if top:
            section = top[1]
        m = re.match(r"^( *(?:- )?)([a-z_0-9]+):\s*[^\s#][^#]*?\s*(#.*)?$", line)
        if not m or m[2] in STRUCTURAL or (m[1] and section != "datasets"):
            continue
        bad = lines[:]
        bad[i] = f"{m[1]}{m[2]}: {CORRUPT}"
        yield i + 1, "\n".join(bad) + "\n"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_a_refused_value_adds_no_other_finding(path):
    """For each example and each value in it, made bad one at a time: lint reports the
    schema error at that line, and every other finding was there before."""
    from peftc.lint import LintConfig, lint_file

    before = {(d.code, d.line) for d in lint_file(str(path), LintConfig())}
    scratch = path.parent / f".one-pass-{path.name}"  # beside it: relative paths resolve
    try:
        for line, text in _corruptions(path.read_text(encoding="utf-8")):
            scratch.write_text(text, encoding="utf-8")
            after = {(d.code, d.line) for d in lint_file(str(scratch), LintConfig())}
            assert any(c.startswith("E1") and ln == line for c, ln in after), (line, after)
            extra = {(c, ln) for c, ln in after - before if ln != line}
            assert not extra, (line, text.splitlines()[line - 1], extra)
    finally:
        scratch.unlink(missing_ok=True)


def test_readme_lint_example_is_what_lint_prints(tmp_path, monkeypatch, cli):
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Lint\n", 1)[1].split("\n## ", 1)[0]
    spec, printed = re.findall(r"```(?:yaml|text)\n(.*?)```", section, re.S)
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("lint", "spec.yaml")
    assert code == 1 and out == printed
