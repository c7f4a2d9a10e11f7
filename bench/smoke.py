"""Wall time of `peftc smoke` next to the floor of `peftc run` of the quickstart.

Each case is the peftc command in a fresh process, timed from start to exit: `peftc smoke` of
the Qwen2.5-7B pipeline example (two stages, on stand-ins from the family table and the
embedded tokenizer) and of the quickstart, beside `peftc run` of the quickstart (the floor:
one real training of the embedded model, 60 steps). The cases take turns, one round at a time,
so the machine's drift falls on each alike. The goal is under 60 s per stage.

    python bench/smoke.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name -> (peftc arguments, stages)
    "smoke qwen2.5-7b sft-dpo": (["smoke", "examples/qwen2.5-7b/sft-dpo.yaml"], 2),
    "smoke quickstart": (["smoke", "examples/quickstart.yaml"], 1),
    "run quickstart (floor)": (["run", "examples/quickstart.yaml", "-o", "{out}"], 1),
}


def timed(args: list[str], work: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = Path(tempfile.mkdtemp(dir=work))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "peftc", *(a.format(out=out) for a in args)],
                   check=True, capture_output=True, cwd=ROOT, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        timed(CASES["run quickstart (floor)"][0], Path(tmp))  # builds the embedded model once
        for _ in range(rounds):
            for name, (args, _stages) in CASES.items():
                times[name].append(timed(args, Path(tmp)))
    floor = statistics.median(times["run quickstart (floor)"])
    print(f"{'case':<28} {'median s':>9} {'per stage':>10} {'x floor':>8}")
    for name, (_args, stages) in CASES.items():
        median = statistics.median(times[name])
        print(f"{name:<28} {median:>9.2f} {median / stages:>10.2f} {median / floor:>8.2f}")


if __name__ == "__main__":
    main()
