"""Rows longer than sequence_len are dropped and counted, as Axolotl drops them (TRL would
truncate them), truncated or refused as excess_length_strategy says, for SFT and DPO; a run
left with nothing to train stops before training."""

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
            "revision": None, "split": "train", "data_files": None, "type": "alpaca",
            "fields": {}}


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
        "train": {"rows": 10, "too_long": 4, "truncated": 0, "nothing_trained": 0}}
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


def test_truncate_cuts_long_rows_and_drops_those_left_with_no_answer(tmp_path, capfd):
    rows = long_and_short_rows(tmp_path)  # 6 short, 4 whose long prompt hides the answer
    long_answer = '{"instruction": "Count.", "output": "' + "one two three four " * 12 + '"}\n'
    with open(rows["path"], "a", encoding="utf-8") as f:
        f.write(long_answer * 3)
    outcome = execute(make_run(
        tmp_path, data={"datasets": [rows], "excess_length": "truncate"},
        trainer={"config": {"max_length": 96, "max_steps": 2, "per_device_train_batch_size": 2}},
    ))
    assert outcome.exit_code == 0
    kept = outcome.trainer.train_dataset
    lengths = sorted(len(ids) for ids in kept["input_ids"])
    assert len(kept) == 9 and lengths[-3:] == [96, 96, 96]  # the long answers, cut to fit
    assert all(len(r["labels"]) == len(r["input_ids"]) for r in kept)
    spec = read_run(tmp_path / "runs" / "tiny-llama-test")
    assert metrics(spec)["rows_dropped"] == {
        "train": {"rows": 13, "too_long": 0, "truncated": 7, "nothing_trained": 4}}
    assert ("peftc: data: truncated 7 to sequence_len (96 tokens) and dropped 4 with no "
            "trained token of 13 train rows" in capfd.readouterr().out)


def test_raise_stops_before_training_and_says_how_many(tmp_path):
    run_dir = make_run(
        tmp_path, data={"datasets": [long_and_short_rows(tmp_path)], "excess_length": "raise"},
        trainer={"config": {"max_length": 96}})
    with pytest.raises(RuntimeConfigError, match=r"data: 4 of 10 train rows are longer than "
                       r"sequence_len \(96 tokens\) and excess_length_strategy is raise") as exc:
        run(run_dir)
    assert exc.value.code == "E609" and exc.value.field == "data.excess_length"
    assert not (tmp_path / "runs" / "tiny-llama-test" / "output" / "checkpoint-1").exists()


def preference_rows(tmp_path):
    data = tmp_path / "pairs.jsonl"
    short = '{"prompt": "2 plus 3?", "chosen": "5", "rejected": "6"}\n'
    long_answer = ('{"prompt": "2 plus 3?", "chosen": "' + "five " * 40 + '", '
                   '"rejected": "6"}\n')
    long_prompt = ('{"prompt": "' + "Add these numbers. " * 20 + '", "chosen": "5", '
                   '"rejected": "6"}\n')
    data.write_text(short * 6 + long_answer * 2 + long_prompt * 2, encoding="utf-8")
    return {"path": str(data), "local": True, "builder": "json", "name": None,
            "revision": None, "split": "train", "data_files": None, "type": "preference",
            "fields": {}}


@pytest.mark.parametrize("strategy,kept,counts", [
    # Axolotl's default for DPO too: prompt plus either answer over sequence_len is dropped
    ("drop", 6, {"too_long": 4, "truncated": 0}),
    # TRL's collator cuts the long answers; a prompt that fills sequence_len cannot be cut
    ("truncate", 8, {"too_long": 2, "truncated": 2}),
])
def test_dpo_rows_longer_than_sequence_len(tmp_path, strategy, kept, counts):
    from test_dpo import dpo_overrides

    over = dpo_overrides(excess_length=strategy)
    over["data"]["datasets"] = [preference_rows(tmp_path)]
    outcome = execute(make_run(tmp_path, run_id="dpo", **over))
    assert outcome.exit_code == 0
    rows = outcome.trainer.train_dataset
    assert len(rows) == kept
    assert all(len(r["prompt_ids"]) < 64 for r in rows)
    dropped = metrics(read_run(tmp_path / "runs" / "dpo"))["rows_dropped"]["train"]
    assert dropped == {"rows": 10, "nothing_trained": 0, **counts}


def test_duplicates_are_removed_before_the_length_check_and_counted(tmp_path, capfd):
    outcome = execute(make_run(
        tmp_path, data={"datasets": [long_and_short_rows(tmp_path)], "deduplicate": True},
        trainer={"config": {"max_length": 96, "max_steps": 1}},
    ))
    assert outcome.exit_code == 0
    m = metrics(read_run(tmp_path / "runs" / "tiny-llama-test"))
    assert m["duplicates_removed"] == 8  # one short row and one long row stay
    assert m["rows_dropped"]["train"] == {"rows": 2, "too_long": 1, "truncated": 0,
                                          "nothing_trained": 0}
    assert "peftc: data: removed 8 exact duplicate rows" in capfd.readouterr().out
