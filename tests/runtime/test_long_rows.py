"""Rows longer than sequence_len are dropped and counted, as Axolotl drops them (TRL would
truncate them), and a run left with nothing to train stops before training."""

from __future__ import annotations

import pytest
from conftest import dataset_entry, make_run, read_run

from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.run import execute, run
from tests.runtime.helpers import metrics


def long_and_short_rows(tmp_path):
    data = tmp_path / "rows.jsonl"
    short = '{"instruction": "Add 2 and 3.", "output": "5"}\n'
    long = '{"instruction": "' + "Add these numbers please. " * 12 + '", "output": "5"}\n'
    data.write_text(short * 6 + long * 4, encoding="utf-8")
    return {"path": str(data), "local": True, "builder": "json", "name": None,
            "split": "train", "data_files": None, "type": "alpaca", "fields": {}}


def test_rows_longer_than_sequence_len_are_dropped_and_counted(tmp_path, capfd):
    outcome = execute(make_run(
        tmp_path, data={"datasets": [long_and_short_rows(tmp_path)]},
        trainer={"config": {"max_length": 96, "max_steps": 2, "per_device_train_batch_size": 2}},
    ))
    assert outcome.exit_code == 0
    kept = outcome.trainer.train_dataset
    assert len(kept) == 6 and max(len(ids) for ids in kept["input_ids"]) <= 96
    spec = read_run(tmp_path / "runs" / "tiny-llama-test")
    assert metrics(spec)["rows_dropped"] == {
        "train": {"rows": 10, "too_long": 4, "nothing_trained": 0}}
    assert ("peftc: data: dropped 4 longer than sequence_len (96 tokens) of 10 train rows"
            in capfd.readouterr().out)


def test_packing_drops_long_rows_before_packing(tmp_path):
    outcome = execute(make_run(
        tmp_path, data={"datasets": [long_and_short_rows(tmp_path)]},
        trainer={"config": {"max_length": 96, "max_steps": 1, "packing": True}},
    ))
    assert outcome.exit_code == 0
    packed = outcome.trainer.train_dataset
    lengths = [n for row in packed["seq_lengths"] for n in row]
    assert len(lengths) == 6 and len(set(lengths)) == 1  # the six short rows, none cut
    assert sum(lengths) == sum(len(ids) for ids in packed["input_ids"])


def test_no_row_short_enough_stops_before_training(tmp_path):
    run_dir = make_run(
        tmp_path, data={"datasets": [dataset_entry("alpaca.jsonl", "alpaca")]},
        trainer={"config": {"max_length": 16}},
    )
    with pytest.raises(RuntimeConfigError, match=r"data: no train rows left to train on: "
                       r"dropped 200 longer than sequence_len \(16 tokens\) of 200 train rows"):
        run(run_dir)
    assert not (tmp_path / "runs" / "tiny-llama-test" / "output" / "adapter_model.safetensors"
                ).exists()
