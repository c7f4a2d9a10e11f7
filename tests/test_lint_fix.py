"""`peftc lint --fix`: what has one right answer is rewritten in the file's own text."""

import re

import pytest

from tests.conftest import EXAMPLES

BEFORE = """\
# yaml-language-server: $schema=peftc.schema.json
# A spec with things --fix mends; every comment and blank line stays.
base_model: peftc:tiny-llama   # the embedded model
profile: none
lora_dropot: 0.1     # a typo

train_on_inputs: yes
dpo_beta: 0.2   # Axolotl's old name
rl: dpo
datasets:
  - path: "tatsu-lab/alpaca"   # quoted, kept quoted
    type: chatml.argilla
    ds_tipe: json
  - {path: 'other/set', spilt: train}
max_steps: 50
warmup_ratio: 0.05  # five percent
"""
AFTER = """\
# yaml-language-server: $schema=peftc.schema.json
# A spec with things --fix mends; every comment and blank line stays.
base_model: peftc:tiny-llama   # the embedded model
profile: none
lora_dropout: 0.1     # a typo

train_on_inputs: true
rl_beta: 0.2   # Axolotl's old name
rl: dpo
datasets:
  - path: "tatsu-lab/alpaca"   # quoted, kept quoted
    type: chatml.default
    ds_type: json
  - {path: 'other/set', split: train}
max_steps: 50
warmup_steps: 2  # five percent
"""


def test_fix_mends_in_place_and_says_what(write_spec, cli):
    spec = write_spec(BEFORE)
    code, out, err = cli("lint", "--fix", spec)
    assert spec.read_text() == AFTER
    said = re.findall(r":(\d+):\d+: fixed( \w+)?: (.*)", err)
    assert [(int(n), c.strip()) for n, c, _ in said] == [
        (5, "E100"), (7, "W215"), (8, "W205"), (12, "W205"), (13, "E100"), (14, "E100"),
        (16, "")]
    assert "warmup_ratio 0.05 x max_steps 50 written as warmup_steps 2" in err
    assert code == 0 and "E1" not in out  # what is left: the advisor's warnings
    code, out, err = cli("lint", "--fix", spec)  # nothing more to do
    assert spec.read_text() == AFTER and "fixed" not in err


def test_diff_shows_without_writing(write_spec, cli):
    spec = write_spec(BEFORE)
    code, out, _ = cli("lint", "--diff", spec)
    assert code == 1 and spec.read_text() == BEFORE
    assert "-lora_dropot: 0.1     # a typo\n+lora_dropout: 0.1     # a typo\n" in out
    spec.write_text(AFTER)
    assert cli("lint", "--diff", spec)[:2] == (0, "")


@pytest.mark.parametrize(("text", "why"), [
    ("lora_alph: 16\nlora_alphb: 8\n", "two keys would become one"),
    ("lr: 0.1\n", "no close key"),
    ("lora_r: 8\nrank: 8\n", "no single close match"),
    ("relora_steps: 5\n", "relora_steps also means relora: true"),
    ("learning_rate: 2.0e-4\nlr_: 1.0e-4\n", "not one close match"),
    ("micro_batch_size: 2\nbatch_size: 2\n", "an alias with another meaning is not a typo"),
    ("train_on_inputs: &t yes\nbf16: *t\n", "the value is an anchor other keys use"),
])
def test_no_fix_without_one_right_answer(write_spec, cli, text, why):
    spec = write_spec("base_model: peftc:tiny-llama\nprofile: none\n" + text)
    before = spec.read_text()
    cli("lint", "--fix", spec)
    assert spec.read_text() == before, why


def test_alias_beside_its_key(write_spec, cli):
    from peftc.schema.spec import ALIASES

    alias, canonical = next((a, c) for a, c in sorted(ALIASES.items())
                            if a != c and "." not in a)
    same = write_spec(f"base_model: peftc:tiny-llama\n{canonical}: 4\n{alias}: 4  # dup\n"
                      "profile: none\n", "same.yaml")
    cli("lint", "--fix", same)
    assert same.read_text() == f"base_model: peftc:tiny-llama\n{canonical}: 4\nprofile: none\n"
    other = write_spec(f"base_model: peftc:tiny-llama\n{canonical}: 4\n{alias}: 8\n",
                       "other.yaml")
    before = other.read_text()
    code, out, _ = cli("lint", "--fix", other)
    assert other.read_text() == before and code == 1 and "E106" in out


def test_line_endings_bom_and_mode_survive(tmp_path, cli):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"\xef\xbb\xbfbase_model: peftc:tiny-llama\r\nprofile: none\r\n"
                     b"train_on_inputs: no\r\n")
    spec.chmod(0o640)
    cli("lint", "--fix", spec)
    assert spec.read_bytes() == (b"\xef\xbb\xbfbase_model: peftc:tiny-llama\r\nprofile: none"
                                 b"\r\ntrain_on_inputs: false\r\n")
    assert spec.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]  # no temporary left


def _typo(key: str) -> str:
    return key[:-2] + key[-1] + key[-2]  # the last two letters swapped


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_examples_round_trip(path):
    """An example needs no fix; with one of its keys misspelt, --fix gives it back byte for
    byte (when that key is the only one close to the typo)."""
    import difflib

    from peftc.fix import apply, plan
    from peftc.schema.loader import load_text
    from peftc.schema.validate import schema

    text = path.read_text(encoding="utf-8")
    assert plan(load_text(text, str(path)), text) == []
    props = list(schema()["properties"])
    restored = 0
    for m in re.finditer(r"^([a-z_]{4,}):", text, re.M):
        key = m[1]
        if difflib.get_close_matches(_typo(key), props, n=2, cutoff=0.8) != [key]:
            continue
        bad = text[:m.start()] + _typo(key) + text[m.start() + len(key):]
        assert apply(bad, plan(load_text(bad, str(path)), bad)) == text, key
        restored += 1
    assert restored >= 3
