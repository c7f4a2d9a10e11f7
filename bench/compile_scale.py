"""Compile sweeps of 100, 1,000 and 10,000 runs; print the time per run for each.

Goal: a flat per-run cost (the 10,000-run per-run time within 1.3x of the 100-run one) and
a 10,000-run sweep in under 20 s on a 2-core machine. Each size is compiled in a fresh
process, into a fresh folder (written files included).

    python bench/compile_scale.py [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
num_gpus: 8
max_steps: 200
deepspeed: zero2
sweep:
  lora_r: [4, 8, 12, 16, 20, 24, 28, 32, 48, 64]
  learning_rate: [1.0e-4, 1.5e-4, 2.0e-4, 2.5e-4, 3.0e-4, 3.5e-4, 4.0e-4, 4.5e-4, 5.0e-4, 6.0e-4]
  seed: {seeds}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    sizes = ap.parse_args().sizes
    rows = []
    # a folder beside the repo: on some machines /tmp is a much slower file system
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1]) as tmp:
        for n in sizes:
            spec = Path(tmp) / f"sweep{n}.yaml"
            spec.write_text(SPEC.format(seeds=list(range(max(1, n // 100)))))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "peftc", "compile", str(spec), "-o",
                            str(Path(tmp) / f"out{n}")], check=True, capture_output=True)
            rows.append((n, time.perf_counter() - start))
    base = rows[0][1] / rows[0][0]
    print(f"{'runs':>7} {'total s':>9} {'ms/run':>8} {'x first':>8}")
    for n, t in rows:
        print(f"{n:>7} {t:>9.2f} {t / n * 1000:>8.2f} {t / n / base:>8.2f}")


if __name__ == "__main__":
    main()
