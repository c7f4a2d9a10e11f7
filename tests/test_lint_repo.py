"""`peftc lint` in a real repository: the hook checks specs only and skips other YAML."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""
COMPOSE = "services:\n  web:\n    image: nginx\n"
SPEC = """\
base_model: peftc:tiny-llama
profile: none
datasets:
  - path: tatsu-lab/alpaca
learning_rate: 2.0e-4
"""


def test_only_specs_are_recognised(tmp_path):
    from peftc.lint import is_spec

    cases = {
        "spec.yaml": SPEC,
        "child.yaml": "extends: base.yaml\nlora_r: 8\n",
        "quoted.yaml": '"base_model": x\n',
        "modeline.yaml": "# yaml-language-server: $schema=../peftc/schema/peftc.schema.json\n"
                         "lora_r: 8\n",
        "broken.yaml": "base_model: x\nlora_r: [8\n",  # still a spec: its error is reported
        "workflow.yml": WORKFLOW,
        "compose.yaml": COMPOSE,
        "nested.yaml": "jobs:\n  base_model: x\n",
        "other-schema.yaml": "# yaml-language-server: $schema=https://x/compose.schema.json\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    found = {name for name in cases if is_spec(tmp_path / name)}
    assert found == {"spec.yaml", "child.yaml", "quoted.yaml", "modeline.yaml", "broken.yaml"}


def test_lint_skips_other_yaml_and_says_so_with_verbose(tmp_path, cli):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "spec.yaml").write_text(SPEC)
    code, out, err = cli("lint", tmp_path / "compose.yaml", tmp_path / "spec.yaml")
    assert (code, out) == (0, "")
    assert "1 file(s) checked: 0 error(s), 0 warning(s), 1 skipped (not specs)" in err
    assert "compose.yaml: skipped" not in err
    code, out, err = cli("lint", "-v", tmp_path / "compose.yaml")
    assert code == 0 and f"{tmp_path / 'compose.yaml'}: skipped: not a peftc spec" in err
    code, out, err = cli("lint", "--all", tmp_path / "compose.yaml")
    assert code == 1 and "E100 error: unknown key 'services'" in out


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def _snapshot_of_this_checkout(dest: Path) -> str:
    """peftc's files as they are now (uncommitted and new ones too), committed in a new
    repository, so that pre-commit installs the hook exactly as a user's `rev:` would."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file() and not name.startswith("tests/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    _git("init", "-q", cwd=dest)
    _git("add", "-A", cwd=dest)
    _git("commit", "-q", "-m", "snapshot", cwd=dest)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pre_commit_hook_in_a_scratch_repository(tmp_path):
    """README's hook in a repository with a workflow, a docker-compose file and two specs:
    clean specs pass and the rest is skipped; a planted typo fails the commit."""
    pytest.importorskip("pre_commit")
    hook_repo = tmp_path / "peftc"
    hook_repo.mkdir()
    rev = _snapshot_of_this_checkout(hook_repo)
    repo = tmp_path / "project"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (repo / "docker-compose.yml").write_text(COMPOSE)
    (repo / "specs").mkdir()
    (repo / "specs" / "a.yaml").write_text(SPEC)
    (repo / "specs" / "b.yaml").write_text(SPEC.replace("2.0e-4", "1.0e-4"))
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: peftc-lint\n")
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def pre_commit() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"],
                              cwd=repo, capture_output=True, text=True, env=env, timeout=900)

    done = pre_commit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "peftc lint" in done.stdout and "Passed" in done.stdout
    (repo / "specs" / "b.yaml").write_text(SPEC + "lora_dropot: 0.1\n")
    _git("add", "-A", cwd=repo)
    done = pre_commit()
    assert done.returncode == 1
    assert "specs/b.yaml:6:1: E100 error: unknown key 'lora_dropot'" in done.stdout
    assert "ci.yml" not in done.stdout and "docker-compose" not in done.stdout


REMOTE = """\
base_model: peftc:tiny-llama
profile: none
datasets:
  - path: {path}
    type: alpaca
learning_rate: 2.0e-4
"""


def test_missing_paths_outside_the_repository_are_warnings(tmp_path, cli):
    """A cluster path, or one out of the repository, may be there where the run executes:
    W213. A missing relative path inside the repository is a mistake: E213."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()

    def lint(path: str) -> tuple[int, str]:
        spec = repo / "specs" / "spec.yaml"
        spec.write_text(REMOTE.format(path=path))
        code, out, _ = cli("lint", spec)
        return code, out

    for path in ("/mnt/datasets/train.jsonl", "~/nowhere-peftc/train.jsonl",
                 "../../shared/train.jsonl"):
        code, out = lint(path)
        assert code == 0, out
        assert f"spec.yaml:4:5: W213 warning: dataset {path} is not found here; it must " \
               "exist where the run executes" in out
        assert "`peftc run` and `peftc launch` check it before loading the model" in out
    for path in ("data/train.jsonl", "../data/train.jsonl"):  # inside the repository
        code, out = lint(path)
        assert code == 1 and f"E213 error: dataset {path} is not there" in out
    spec = repo / "specs" / "spec.yaml"
    spec.write_text(REMOTE.format(path="train.jsonl").replace(
        "learning_rate", "adapter: lora\nlora_model_dir: /mnt/adapters/sft\nlearning_rate"))
    (repo / "specs" / "train.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    code, out, _ = cli("lint", spec)
    assert code == 0 and "W213 warning: lora_model_dir /mnt/adapters/sft is not found here" \
        in out
    spec.write_text(spec.read_text().replace("adapter: lora", "adapter: ia3"))
    code, out, _ = cli("lint", spec)  # not a LoRA run at all: that alone is said
    assert code == 1 and "E221 error: lora_model_dir goes on training a LoRA adapter, not a " \
        "'ia3' one" in out and "W213" not in out
    (repo / ".git").rmdir()  # no repository: a relative path is the spec's own
    code, out = lint("../../shared/train.jsonl")
    assert code == 1 and "E213" in out


def test_a_path_not_here_compiles_as_a_local_file(tmp_path):
    from peftc.compiler import compile_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(REMOTE.format(path="/mnt/datasets/train.jsonl"))
    compiled = compile_spec(spec, tmp_path / "out")
    assert [d.code for d in compiled.warnings] == ["W213"]
    import yaml

    run_yaml = next((tmp_path / "out").rglob("run.yaml"))
    [entry] = yaml.safe_load(run_yaml.read_text())["data"]["datasets"]
    assert (entry["path"], entry["local"], entry["builder"]) == (
        "/mnt/datasets/train.jsonl", True, "json")


COLUMNS = """\
base_model: peftc:tiny-llama
profile: none
datasets:
  - path: {path}
    type: {type}
{extra}learning_rate: 2.0e-4
"""


@pytest.mark.parametrize(("name", "text", "dtype", "extra", "error"), [
    ("qa.jsonl", '{"question": "q", "answer": "a"}\n', "alpaca", "",
     "row 1: alpaca rows need instruction and output columns; the row has question, answer"),
    ("qa.jsonl", '{"question": "q", "answer": "a"}\n', "alpaca",
     "    field_instruction: question\n    field_output: answer\n", None),
    ("qa.json", '[{"instruction": "q", "output": "a"}, {"instruction": "r"}]', "alpaca", "",
     "row 2: alpaca rows need instruction and output columns; the row has instruction"),
    ("qa.csv", "instruction,output\nq,a\n", "alpaca", "", None),
    ("qa.csv", "prompt,chosen\nq,a\n", "preference", "", "row 1: preference rows need a "
     "rejected column"),
    ("chat.jsonl", '{"conversations": [{"role": "user", "content": "hi"}]}\n',
     "chat_template", "", "row 1: "),
    ("chat.jsonl", '{"conversations": [{"from": "human", "value": "hi"}, '
     '{"from": "gpt", "value": "yo"}]}\n', "chat_template",
     "    field_messages: conversations\n    message_property_mappings:\n"
     "      role: from\n      content: value\n", None),
])
def test_local_rows_are_checked_against_their_type(tmp_path, cli, name, text, dtype, extra,
                                                   error):
    """A local file whose first rows lack its type's columns fails lint at the dataset's
    line (E225), with the columns it has: not after the model loads at run time."""
    (tmp_path / name).write_text(text)
    spec = tmp_path / "spec.yaml"
    body = COLUMNS.format(path=name, type=dtype, extra=extra)
    if dtype == "preference":
        body = body.replace("profile: none\n", "profile: none\nrl: dpo\n")
    spec.write_text(body)
    code, out, _ = cli("lint", spec)
    if error is None:
        assert code == 0 and "E225" not in out, out
    else:
        line = 5 if dtype == "preference" else 4
        assert code == 1 and f"spec.yaml:{line}:5: E225 error: dataset '{name}', {error}" \
            in out, out


def test_row_checks_stay_within_bounds(tmp_path, cli):
    """A big file is read only to PEEK_BYTES: its bad rows beyond are the run's to find."""
    from peftc.limits import PEEK_BYTES

    good = '{"instruction": "' + "x" * 200 + '", "output": "y"}\n'
    rows = good * (PEEK_BYTES // len(good) + 10) + '{"nothing": 1}\n'
    (tmp_path / "big.jsonl").write_text(rows)
    spec = tmp_path / "spec.yaml"
    spec.write_text(COLUMNS.format(path="big.jsonl", type="alpaca", extra=""))
    code, out, _ = cli("lint", spec)
    assert code == 0, out
