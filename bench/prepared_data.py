"""Time to the first training step with dataset_prepared_path: cold, and with the prepared data
of an earlier run, next to the floor of the same run on 20 rows already prepared (loading the
model, building the trainer: what no cache can remove).

Each case is `peftc run` in a fresh process on a compiled run of the embedded tiny model
(alpaca, sequence_len 256, one step); the figure is metrics.json's seconds_to_first_step. The
cases take turns, one round at a time, so the machine's drift falls on each alike.

    python bench/prepared_data.py [--rows 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SPEC = """
base_model: peftc:tiny-llama
profile: none
datasets: [{{path: {data}, type: alpaca}}]
dataset_prepared_path: {prepared}
sequence_len: 256
max_steps: 1
micro_batch_size: 2
"""
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey").split()


def write_rows(path: Path, rows: int) -> None:
    with path.open("w") as f:
        for i in range(rows):
            words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(20 + i % 40)]
            f.write(json.dumps({"instruction": f"Repeat item {i}.", "input": " ".join(words),
                                "output": " ".join(reversed(words))}) + "\n")


def compiled(work: Path, name: str, rows: int, prepared: Path) -> Path:
    data = work / f"{name}.jsonl"
    write_rows(data, rows)
    spec = work / f"{name}.yaml"
    spec.write_text(SPEC.format(data=data, prepared=prepared))
    out = work / f"out-{name}"
    subprocess.run([sys.executable, "-m", "peftc", "compile", str(spec), "-o", str(out)],
                   check=True, capture_output=True)
    return next((out / "runs").iterdir())


def first_step(run_dir: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "peftc", "run", str(run_dir)], check=True,
                   capture_output=True, env=env)
    output = Path(yaml.safe_load((run_dir / "run.yaml").read_text())["output_dir"])
    seconds = json.loads((output / "metrics.json").read_text())["seconds_to_first_step"]
    shutil.rmtree(output)  # the next round starts the run afresh, not from a checkpoint
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floor_run = compiled(work, "floor", 20, work / "floor-prepared")
        big_run = compiled(work, "big", args.rows, work / "prepared")
        times: dict[str, list[float]] = {"floor (20 rows)": [], "cold": [], "cached": []}
        first_step(floor_run)  # prepares the floor's 20 rows once
        for _ in range(args.rounds):
            shutil.rmtree(work / "prepared", ignore_errors=True)
            times["floor (20 rows)"].append(first_step(floor_run))
            times["cold"].append(first_step(big_run))
            times["cached"].append(first_step(big_run))
    floor = statistics.median(times["floor (20 rows)"])
    print(f"seconds to the first step, median of {args.rounds} rounds ({args.rows} rows):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:16} {median:6.2f} s   {median / floor:5.2f}x floor   "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
