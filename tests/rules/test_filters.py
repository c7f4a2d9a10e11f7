"""How rule findings are filtered: inline comments, the spec's lint section, [tool.peftc],
--select/--ignore, and the sweep run counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOISY = "learning_rate: 3.0e-3\nweight_decay: 0.5\n"  # W110 and W190


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peftc", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_both_reported_by_default(spec):
    assert {"W110", "W190"} <= spec.codes(NOISY)


def test_inline_ignore(spec):
    spec.write("learning_rate: 3.0e-3  # peftc: ignore[W110]\nweight_decay: 0.5\n")
    codes = spec.codes()
    assert "W110" not in codes and "W190" in codes
    spec.write("learning_rate: 3.0e-3  # peftc: ignore[W190, W110]\n")
    assert "W110" not in spec.codes()
    # a comment on another line does not hide the finding
    spec.write("learning_rate: 3.0e-3\nweight_decay: 0.0  # peftc: ignore[W110]\n")
    assert "W110" in spec.codes()


def test_lint_section_ignore_and_severity(spec):
    spec.write(NOISY + "lint:\n  ignore: [W110]\n  severity:\n    W190: error\n")
    diags = {d.code: d for d in spec.lint()}
    assert "W110" not in diags
    assert diags["W190"].severity == "error"
    spec.write(NOISY + "lint:\n  severity:\n    W190: 'off'\n")
    assert "W190" not in spec.codes()


def test_pyproject_beside_the_spec(spec):
    (spec.folder / "pyproject.toml").write_text(
        '[tool.peftc]\nignore = ["W190"]\n[tool.peftc.severity]\nW110 = "info"\n',
        encoding="utf-8")
    diags = {d.code: d for d in spec.lint(NOISY)}
    assert "W190" not in diags
    assert diags["W110"].severity == "info"


def test_pyproject_select(spec):
    (spec.folder / "pyproject.toml").write_text('[tool.peftc]\nselect = ["W19"]\n',
                                                encoding="utf-8")
    assert spec.codes(NOISY) == {"W190"}


def test_config_select_and_ignore(spec):
    assert spec.codes(NOISY, select=["W110"]) == {"W110"}
    assert "W110" not in spec.codes(NOISY, ignore=["W110"])
    assert spec.codes(NOISY, select=["W1"], ignore=["W19"]) == {"W110"}


def test_cli_select_ignore(spec):
    path = spec.write(NOISY)
    out = _cli("lint", "--select", "W110", str(path))
    assert "W110" in out.stdout and "W190" not in out.stdout
    out = _cli("lint", "--ignore", "W110,W190", str(path))
    assert "W110" not in out.stdout and "W190" not in out.stdout
    assert out.returncode == 0


def test_cli_exit_codes(spec):
    path = spec.write("lr_scheduler: cosine\nlr_scheduler_kwargs: {min_lr_rate: 0.1}\n")
    out = _cli("lint", str(path))
    assert out.returncode == 1 and "E701 error" in out.stdout
    path = spec.write(NOISY)
    assert _cli("lint", str(path)).returncode == 0
    assert _cli("lint", "--strict", str(path)).returncode == 1


def test_sweep_reports_once_with_run_count(spec):
    spec.write("sweep:\n  learning_rate: [2.0e-4, 3.0e-3, 4.0e-3]\n")
    found = [d for d in spec.lint() if d.code == "W110"]
    assert len(found) == 2  # two distinct messages (one per offending value)
    for d in found:
        assert (d.runs_affected, d.runs_total) == (1, 3)
        assert d.text().count("(in 1 of 3 runs)") == 1
    spec.write("weight_decay: 0.5\nsweep:\n  lora_dropout: [0.0, 0.05, 0.1]\n")
    (d,) = [d for d in spec.lint() if d.code == "W190"]
    assert (d.runs_affected, d.runs_total) == (3, 3)
    assert "(in 3 of 3 runs)" in d.text()
