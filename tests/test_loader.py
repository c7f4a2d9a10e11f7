"""The source-mapped loader: positions, duplicates, bombs, YAML 1.1 traps, encodings."""

import pytest

from peftc.diagnostics import PeftcError
from peftc.schema.loader import load_file, load_text


def diag(text: str):
    with pytest.raises(PeftcError) as exc:
        load_text(text, "s.yaml")
    return exc.value.diagnostics


def test_positions_of_keys_and_values():
    doc = load_text("a: 1\nb:\n  c: [x, y]\n", "s.yaml")
    assert doc.srcmap.keys[("b", "c")] == (3, 3)
    assert doc.srcmap.values[("b", "c", 1)] == (3, 10)
    assert doc.srcmap.locate(("b", "missing")) == (3, 3)  # the mapping under b


def test_duplicate_key_is_an_error_at_the_second():
    [d] = diag("lora_r: 8\nlora_alpha: 16\nlora_r: 16\n")
    assert (d.code, d.line, d.col) == ("E002", 3, 1)
    assert "first defined at line 1" in d.message


def test_billion_laughs_is_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for i in range(1, 9):
        bomb += f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
        prev = f"l{i}"
    [d] = diag(bomb)
    assert d.code == "E004"


def test_scientific_notation_is_a_float():
    assert load_text("lr: 2e-4\nx: 1_000\n").data == {"lr": 2e-4, "x": 1000}


def test_yaml11_booleans_are_remembered():
    doc = load_text("a: no\nb: 'no'\n")
    assert doc.data == {"a": False, "b": "no"}
    assert doc.srcmap.yaml11_bools == {("a",): "no"}


def test_tabs_get_a_clear_message():
    [d] = diag("a:\n\tb: 1\n")
    assert d.code == "E001" and "tab" in d.message and d.line == 2


def test_syntax_error_is_located():
    [d] = diag("a: [1, 2\nb: 3\n")
    assert d.code == "E001" and d.line >= 1


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_mapping(text):
    [d] = diag(text)
    assert d.code == "E003"


def test_empty_file():
    [d] = diag("")
    assert d.code == "E003"


def test_non_utf8(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(PeftcError) as exc:
        load_file(p)
    [d] = exc.value.diagnostics
    assert (d.code, d.line, d.col) == ("E003", 2, 7)


def test_merge_keys_and_anchors():
    doc = load_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
    assert doc.data["c"] == {"x": 1, "y": 3}


def test_suppression_comments():
    doc = load_text("a: 1  # peftc: ignore[W101, w102]\n")
    assert doc.srcmap.suppressed(1, "W101") and doc.srcmap.suppressed(1, "W102")
    assert not doc.srcmap.suppressed(1, "W103")
