"""Packing on examples/data/alpaca.jsonl: share of real (non-pad) tokens per batch and training
tokens/s for packing off, TRL's ``bfd`` and ``wrapped`` packing, and padding-free batches.

    python bench/packing.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import write_run

MODES: dict[str, dict[str, Any]] = {
    "off": {"packing": False},
    "bfd": {"packing": True, "packing_strategy": "bfd"},
    "wrapped": {"packing": True, "packing_strategy": "wrapped"},
    "padding-free": {"packing": False, "padding_free": True, "max_length": None},
}


def real_token_share(trainer: Any, batches: int = 10) -> float:
    """Non-pad tokens / all tokens over the first ``batches`` training batches."""
    real = total = 0
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i == batches:
            break
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        total += ids.numel()
        real += int(mask.sum()) if mask is not None else ids.numel()
    return real / total


def main() -> None:
    from peftc.runtime.run import execute

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_run(Path(tmp), "warmup", 2)
        execute(Path(tmp) / "warmup")
        for name, extra in MODES.items():
            run_dir = write_run(Path(tmp), name, args.steps, **extra)
            outcome = execute(run_dir)
            assert outcome.exit_code == 0, name
            metrics = json.loads((run_dir / "output" / "metrics.json").read_text())
            rows.append((name, real_token_share(outcome.trainer), metrics["tokens_per_second"],
                         metrics["train_seconds"]))
    print(f"\n{'mode':14}{'real tokens':>12}{'tokens/s':>12}{'train s':>10}")
    for name, share, tps, seconds in rows:
        print(f"{name:14}{share:12.1%}{tps:12,.0f}{seconds:10.2f}")


if __name__ == "__main__":
    main()
