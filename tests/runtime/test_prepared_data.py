"""dataset_prepared_path on the tiny model: a second run with the same data reuses the prepared
data without tokenizing again; an edited file, even one whose modification time was kept, or
another val_set_size or seed, prepares afresh."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import DATA, dataset_entry, make_run, read_run
from helpers import metrics

from peftc.runtime.data import prepared_dir
from peftc.runtime.model import load_tokenizer
from peftc.runtime.run import execute


def cache_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.arrow")}


def prepared_run(tmp_path: Path, run_id: str, data: Path) -> Path:
    return make_run(tmp_path, run_id, data={
        "datasets": [dataset_entry("alpaca", "alpaca_plain", path=str(data))],
        "prepared_path": str(tmp_path / "prepared")}, trainer={"config": {"max_steps": 1}})


def test_prepared_data_is_reused_and_an_edited_file_is_not_served_stale(tmp_path):
    data = tmp_path / "alpaca.jsonl"
    shutil.copy2(DATA / "alpaca.jsonl", data)
    first = prepared_run(tmp_path, "first", data)
    assert execute(first).exit_code == 0
    cold = metrics(read_run(first))["prepared_data"]
    folder = Path(cold["dir"])
    assert cold["reused"] is False and folder.parent == tmp_path / "prepared"
    written = cache_files(folder)
    assert any("cache-" in f for f in written)  # the maps' results (TRL's tokenization too)

    again = prepared_run(tmp_path, "again", data)
    outcome = execute(again)
    assert metrics(read_run(again))["prepared_data"] == {"dir": str(folder), "reused": True}
    assert cache_files(folder) == written  # nothing tokenized again: every map was a hit

    # an edit that keeps the file's modification time (cp -p, rsync -t, an archive)
    stat = data.stat()
    data.write_text(data.read_text().replace('"output": "six"', '"output": "sixty-six"'))
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = prepared_run(tmp_path, "edited", data)
    outcome = execute(edited)
    fresh = metrics(read_run(edited))["prepared_data"]
    assert fresh["reused"] is False and fresh["dir"] != str(folder)
    tokenizer = outcome.trainer.processing_class
    texts = [tokenizer.decode(row["input_ids"]) for row in outcome.trainer.train_dataset]
    assert any("sixty-six" in t for t in texts)


def test_the_key_holds_the_split_and_the_seed():
    tokenizer = load_tokenizer({"name_or_path": "peftc:tiny-llama"})
    section = {"datasets": [dataset_entry("alpaca.jsonl", "alpaca")], "val_set_size": 0.1,
               "shuffle_seed": 42}
    base = prepared_dir(section, tokenizer)
    assert prepared_dir(section, tokenizer) == base  # stable
    assert prepared_dir({**section, "val_set_size": 0.2}, tokenizer) != base
    assert prepared_dir({**section, "shuffle_seed": 7}, tokenizer) != base
