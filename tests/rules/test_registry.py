"""The registry as a whole: every rule documents itself, its bad example triggers it, its good
example does not, and a spec with nothing unusual lints clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from peftc.rules import all_rules
from tests.rules.helpers import BASE, PREFERENCE, SpecWriter

RULES = all_rules()
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peftc", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT)


def test_at_least_25_rules_listed() -> None:
    out = _cli("rules")
    assert out.returncode == 0
    lines = [ln for ln in out.stdout.splitlines() if re.match(r"^[WEI]\d{3}\s", ln)]
    assert len(lines) >= 25
    assert len(RULES) == len(lines)


def test_codes_and_fields() -> None:
    for code, r in RULES.items():
        assert re.fullmatch(r"W1\d\d|E7\d\d|[EWI]2\d\d|E4\d\d", code)  # E/W/I2, E4: compiler's
        assert r.severity == {"W": r.severity, "E": "error", "I": "info"}[code[0]]
        assert r.severity in ("warning", "info", "error")
        assert re.fullmatch(r"[a-z0-9-]+", r.name)
        for text in (r.summary, r.rationale, r.fix, r.reference, r.bad, r.good):
            assert text.strip()
        assert any(s in r.reference for s in ("shared/seeds/", "transformers", "PEFT",
                                              "Axolotl"))
        assert yaml.safe_load(r.bad) and yaml.safe_load(r.good)
    assert "W110" in RULES and RULES["W110"].name == "lora-sft-learning-rate"


@pytest.mark.parametrize("code", sorted(RULES))
def test_explain_prints_every_part(code: str, cli) -> None:
    status, out, err = cli("explain", code.lower() if code == "W110" else code)
    assert status == 0, err
    r = RULES[code]
    assert out.startswith(f"{code} {r.name} ({r.severity})")
    for part in ("## What it does", "## Why is this bad?", "## Example", "## Use instead",
                 "## Fix", "## Reference"):
        assert part in out
    for text in (r.summary, r.rationale, r.fix, r.reference, r.bad, r.good):
        assert text in out


def test_explain_as_a_subprocess() -> None:
    out = _cli("explain", "W110")
    assert out.returncode == 0 and "lora-sft-learning-rate" in out.stdout


def _example_spec(writer: SpecWriter, snippet: str) -> None:
    """Write BASE + snippet as one mapping (DPO runs get preference data)."""
    data = yaml.safe_load(snippet)
    merged = {**BASE, **data}
    if "global_batch_size" in data and "gradient_accumulation_steps" not in data:
        del merged["gradient_accumulation_steps"]
    if merged.get("adapter") == "adalora" and "lora_r" not in data:
        del merged["lora_r"]  # AdaLoRA ignores lora_r (W170)
    if merged.get("rl") == "dpo":
        merged["datasets"] = PREFERENCE
    for body in (merged.get("stages") or {}).values():
        if body.get("rl") == "dpo":
            body.setdefault("datasets", PREFERENCE)
    writer.path.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("code", sorted(RULES))
def test_documented_examples(code: str, tmp_path: Path) -> None:
    """The rule's own bad example triggers it and its good example does not."""
    writer = SpecWriter(tmp_path)
    r = RULES[code]
    _example_spec(writer, r.bad)
    diags = writer.lint()
    assert code in {d.code for d in diags}, (r.bad, diags)
    assert not [d for d in diags if d.code.startswith(("E0", "E1", "E2", "E3"))
                and d.code != code], diags
    _example_spec(writer, r.good)
    diags = writer.lint()
    assert code not in {d.code for d in diags}, (r.good, diags)
    assert not [d for d in diags if d.code.startswith(("E0", "E1", "E2", "E3"))], diags


def test_base_spec_is_clean(spec) -> None:
    assert spec.lint("seed: 42") == []


def test_quickstart_shape_is_clean(tmp_path: Path) -> None:
    """examples/quickstart.yaml with a normal learning rate (and no suppression) lints clean."""
    writer = SpecWriter(tmp_path)
    text = (ROOT / "examples" / "quickstart.yaml").read_text(encoding="utf-8")
    text = re.sub(r"learning_rate: .*", "learning_rate: 2.0e-4", text)
    writer.path.write_text(text, encoding="utf-8")
    assert writer.lint() == []


def test_shipped_examples() -> None:
    """The quickstart is clean; the seed sweep reports only the grad-accum rule (W150)."""
    out = _cli("lint", "examples/quickstart.yaml")
    assert out.returncode == 0 and out.stdout.strip() == ""
    out = _cli("lint", "--format", "json", "examples/sweeps/paper-ift.yaml")
    codes = {d["code"] for d in yaml.safe_load(out.stdout) or []}
    assert codes <= {"W150"}


def test_docs_current() -> None:
    from peftc.rules.docs import render_markdown

    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), \
        "docs/rules.md is stale: python -m peftc.rules.docs > docs/rules.md"
    for code in RULES:
        assert f"## {code} " in committed


def test_rules_import_nothing_heavy() -> None:
    code = ("import sys; import peftc.rules as r; r.all_rules(); import peftc.rules.docs; "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', 'datasets') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr
