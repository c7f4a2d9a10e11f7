"""Compile sweeps of 100, 1,000 and 10,000 runs; print the time per run for each.

Goals: a flat per-run cost (the 10,000-run per-run time within 1.3x of the 100-run one) and
a 10,000-run sweep in under 20 s on a 2-core machine. Each size is compiled by `peftc
compile` in a fresh process into a fresh folder, and printed next to two references measured
in the same run: the in-memory work alone (resolve, check, render every file) and the file
system floor (creating the same folders and files, with the same bytes, from plain Python).
Each run writes run.yaml, provenance.json, deepspeed.json, accelerate.yaml and launch.sh.

    python bench/compile_scale.py [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def in_memory(spec: Path) -> tuple[float, dict[str, str]]:
    from peftc.compiler.build import render_files, resolve_spec

    start = time.perf_counter()
    files = render_files(resolve_spec(spec, out_root=spec.parent / "mem"))
    return time.perf_counter() - start, files


def fs_floor(folder: Path, files: dict[str, str]) -> float:
    start = time.perf_counter()
    dirs = sorted({os.path.dirname(k) for k in files})
    for d in dirs:
        os.makedirs(folder / d, exist_ok=True)

    def write(rel: str) -> None:
        (folder / rel).write_bytes(files[rel].encode())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, files))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    sizes = ap.parse_args().sizes
    # A pip install byte-compiles the package; do the same for an editable checkout.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "peftc")], check=True)
    rows = []
    # a folder beside the repo: on some machines /tmp is a much slower file system
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        for n in sizes:
            spec = Path(tmp) / f"sweep{n}.yaml"
            spec.write_text(SPEC.format(seeds=list(range(max(1, n // 100)))))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "peftc", "compile", str(spec), "-o",
                            str(Path(tmp) / f"out{n}")], check=True, capture_output=True)
            total = time.perf_counter() - start
            shutil.rmtree(Path(tmp) / f"out{n}")
            memory, files = in_memory(spec)
            floor = fs_floor(Path(tmp) / f"floor{n}", files)
            shutil.rmtree(Path(tmp) / f"floor{n}")
            rows.append((n, total, memory, floor))
    base = rows[0][1] / rows[0][0]
    print(f"{'runs':>7} {'compile s':>10} {'ms/run':>7} {'x first':>8} {'in-memory ms/run':>17} "
          f"{'fs floor ms/run':>16} {'compile / floor':>16}")
    for n, total, memory, floor in rows:
        print(f"{n:>7} {total:>10.2f} {total / n * 1000:>7.2f} {total / n / base:>8.2f} "
              f"{memory / n * 1000:>17.2f} {floor / n * 1000:>16.2f} {total / floor:>16.2f}")


if __name__ == "__main__":
    main()
