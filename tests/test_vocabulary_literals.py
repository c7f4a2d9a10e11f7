"""A method, dataset type, model family, scheduler, DeepSpeed preset or chat template is named
only in ``peftc/vocab``: code elsewhere asks the record (``method.lora``, ``dtype.chat``,
``sched.min_lr``) instead of comparing names, so adding one is a record, not a hunt through
modules.

A string literal outside the vocabulary that equals such a name fails this test, except in
docstrings and messages (f-strings, or text longer than the name), and where the name is also
a spec key or a run.yaml field (``chat_template``), which the code means instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

from peftc.vocab import chat_templates, datasets, deepspeed, families, methods, schedulers
from peftc.vocab.keys import DATASET_KEYS, KEYS

PACKAGE = Path(__file__).resolve().parents[1] / "peftc"

NAMES = {
    **{name: "a dataset type" for name in datasets.NAMES},
    **{name: "a scheduler" for name in schedulers.NAMES},
    **{name: "a model family" for name in families.FAMILIES},
    **{t: "a model family" for f in families.FAMILIES.values() for t in f.model_types},
    **{name: "an adapter method" for name in methods.NAMES},
    **{name: "a DeepSpeed preset" for name in deepspeed.PRESETS},
    **{name: "a chat template name" for name in (*chat_templates.NAMED,
                                                 chat_templates.TOKENIZER_DEFAULT,
                                                 chat_templates.JINJA)},
}
# what code means by these words is a key, or a field of run.yaml
KEY_WORDS = {*KEYS, *(k.name for k in DATASET_KEYS),
             *(part for k in (*KEYS.values(), *DATASET_KEYS) if k.run for part in k.run.split("."))}
# (module, literal): what it is instead
NOT_NAMES = {
    ("rules/__init__.py", "lora"): "the rules module peftc/rules/lora.py",
    ("compiler/derive.py", "ia3"): "the Family field ia3 (its IA3 targets)",
    ("runtime/formatters.py", "completion"): "TRL's completion column",
    ("runtime/samples.py", "completion"): "TRL's completion column",
    ("runtime/formatters.py", "phi"): "Axolotl's alpaca:phi prompt style",
    ("runtime/formatters.py", "chatml"): "Axolotl's alpaca:chatml prompt style",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _in_fstrings(tree: ast.AST) -> set[int]:
    return {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
            for part in node.values}


def literals() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.startswith("vocab/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree) | _in_fstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            word = node.value
            if word not in NAMES or id(node) in skip or word in KEY_WORDS:
                continue
            if (module, word) not in NOT_NAMES:
                out.append(f"peftc/{module}:{node.lineno}: '{word}' is {NAMES[word]}")
    return out


def test_no_vocabulary_name_is_spelled_outside_the_vocabulary():
    assert literals() == []


def test_every_exception_is_still_needed():
    """An entry of NOT_NAMES whose literal is gone is removed, so the list stays true."""
    for module, word in NOT_NAMES:
        tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.Constant) and n.value == word for n in ast.walk(tree)), \
            (module, word)
