"""The shipped schema, the generated reference, and the import budget of lint/compile."""

import json
import subprocess
import sys

from jsonschema import Draft202012Validator

from peftc.codes import CODES
from peftc.schema.markdown import reference
from peftc.schema.spec import build_schema
from tests.conftest import ROOT

HEAVY = ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "deepspeed",
         "bitsandbytes"]


def test_schema_is_valid_draft_2020_12_and_strict():
    schema = build_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for key, prop in schema["properties"].items():
        if "$ref" in prop:
            continue
        assert prop.get("description"), key
        assert "type" in prop or "enum" in prop or "anyOf" in prop, key


def test_committed_schema_file_is_current():
    committed = (ROOT / "peftc" / "schema" / "peftc.schema.json").read_text()
    assert committed == json.dumps(build_schema(), indent=2) + "\n", \
        "run: peftc schema > peftc/schema/peftc.schema.json"


def test_reference_md_is_current():
    assert (ROOT / "docs" / "reference.md").read_text() == reference(), \
        "run: peftc schema --markdown > docs/reference.md"


def test_axolotl_md_is_current():
    from peftc.schema.markdown import axolotl_reference

    assert (ROOT / "docs" / "axolotl.md").read_text() == axolotl_reference(), \
        "run: peftc schema --axolotl > docs/axolotl.md"


def test_diagnostics_md_is_current():
    from peftc.codes import render_markdown

    text = (ROOT / "docs" / "diagnostics.md").read_text()
    assert text == render_markdown(), "run: python -m peftc.codes > docs/diagnostics.md"
    for code in CODES:
        assert f"`{code}`" in text, code


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['peftc', *{args!r}]\n"
        "from peftc.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('@@MODULES@@'); print('\\n'.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return set(out.split("@@MODULES@@")[-1].split())


def test_lint_compile_schema_help_import_no_ml_stack(tmp_path):
    spec = str(ROOT / "examples" / "sweeps" / "paper-ift.yaml")
    for args in (["lint", spec], ["compile", spec, "-o", str(tmp_path / "o")],
                 ["schema"], ["--help"], ["rules"], ["explain", spec, "lora_r"]):
        loaded = _modules_after(args)
        heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
        assert not heavy, (args, heavy[:5])


def test_every_emitted_code_is_documented():
    import re

    used = set()
    for path in (ROOT / "peftc").rglob("*.py"):
        if "rules" in path.parts or path.name == "codes.py":
            continue
        used |= set(re.findall(r'"([EW]\d{3})"', path.read_text()))
    from peftc.rules import all_rules

    assert used <= set(CODES) | set(all_rules()), sorted(used - set(CODES))
    assert not set(CODES) & set(all_rules()), "a code is a rule or a CODES entry, not both"


def test_families_md_is_current():
    from peftc.vocab.families import render_markdown

    text = (ROOT / "docs" / "families.md").read_text()
    assert text == render_markdown(), "run: python -m peftc.vocab.families > docs/families.md"
