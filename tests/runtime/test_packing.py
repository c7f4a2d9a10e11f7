"""TRL packing: packed examples do not attend to each other, and completion-only masking
survives packing."""

from __future__ import annotations

import pytest
import torch
from conftest import make_run

from peftc.runtime.run import execute

pytestmark = pytest.mark.train


def packed_trainer(tmp_path, attn: str, strategy: str = "bfd"):
    run_dir = make_run(
        tmp_path, run_id=f"pack-{attn}-{strategy}",
        model={"from_pretrained": {"attn_implementation": attn}},
        trainer={"config": {"packing": True, "packing_strategy": strategy, "max_length": 256,
                            "max_steps": 2, "per_device_train_batch_size": 2}},
    )
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    return outcome.trainer


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    starts = (position_ids == 0).nonzero().flatten().tolist()
    ends = [*starts[1:], len(position_ids)]
    return list(zip(starts, ends, strict=True))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_examples_do_not_attend_to_each_other(tmp_path, attn):
    trainer = packed_trainer(tmp_path, attn)
    batch = next(iter(trainer.get_train_dataloader()))
    ids, pos = batch["input_ids"][0], batch["position_ids"][0]
    spans = segments(pos)
    assert len(spans) >= 3, "expected several examples packed into one row"
    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=ids[None], position_ids=pos[None], use_cache=False).logits[0]
        for start, end in spans:
            alone = model(input_ids=ids[None, start:end], use_cache=False).logits[0]
            assert torch.allclose(packed[start:end], alone, atol=1e-5), (
                (packed[start:end] - alone).abs().max())


def test_completion_only_masking_survives_packing(tmp_path):
    trainer = packed_trainer(tmp_path, "sdpa")
    tok = trainer.processing_class
    batch = next(iter(trainer.get_train_dataloader()))
    ids, labels, pos = batch["input_ids"][0], batch["labels"][0], batch["position_ids"][0]
    for start, end in segments(pos):
        seg_ids, seg_labels = ids[start:end].tolist(), labels[start:end].tolist()
        n_masked = next(i for i, label in enumerate(seg_labels) if label != -100)
        assert all(label == -100 for label in seg_labels[:n_masked])
        assert seg_labels[n_masked:] == seg_ids[n_masked:]
        assert tok.decode(seg_ids[:n_masked]).endswith("### Response:\n")
        assert "### " not in tok.decode(seg_ids[n_masked:])
        assert seg_ids[-1] == tok.eos_token_id


def test_the_run_says_when_packing_cannot_isolate_examples(capsys):
    from peftc.runtime.run import warn_packing

    warn_packing({"packing": True, "packing_strategy": "bfd"}, {"attn_implementation": "sdpa"})
    assert capsys.readouterr().err == ""
    warn_packing({"packing": True, "packing_strategy": "wrapped"},
                 {"attn_implementation": "sdpa"})
    assert "'wrapped' keeps no example boundaries" in capsys.readouterr().err
    warn_packing({"packing": True, "packing_strategy": "bfd"},
                 {"attn_implementation": "flex_attention"})
    assert "attend to each other" in capsys.readouterr().err
