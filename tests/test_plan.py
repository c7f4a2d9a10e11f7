"""`peftc plan` reproduces the seed's QLoRA 7B memory estimate and flags runs that do not fit."""

import pytest

from peftc.compiler import resolve_spec, runconfig
from peftc.plan import estimate, model_shape
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def qwen_runs():
    compiled = resolve_spec(EXAMPLES / "qwen2.5-7b" / "sft-dpo.yaml")
    spec_dir = compiled.spec.path.parent
    return {r.stage: runconfig.build(r, spec_dir) for r in compiled.runs}


def test_qlora_7b_at_4096_matches_the_seed(qwen_runs):
    run = qwen_runs["sft"]
    e = estimate(run, model_shape(run["model"]["name_or_path"]))
    # seed: weights ~4-5 GB, adapters ~0.5 GB, optimizer + grads ~3-4 GB,
    # activations (checkpointing, bs 2, 4096 tokens) ~8-12 GB, total ~18-22 GB
    assert 4 <= e["weights"] <= 6
    assert 0.3 <= e["adapter"] <= 0.8
    assert 8 <= e["activations_ckpt"] <= 12
    assert 18 <= e["total"] <= 22
    assert e["activations_no_ckpt"] > 5 * e["activations_ckpt"]


def test_plan_cli_flags_what_does_not_fit(cli):
    spec = EXAMPLES / "qwen2.5-7b" / "sft-dpo.yaml"
    code, out, _ = cli("plan", spec, "--gpu-mem", "40")
    assert code == 0 and out.count(" yes") == 2
    code, out, _ = cli("plan", spec, "--gpu-mem", "16")
    assert code == 1 and "NO" in out and "will not fit in 16 GB" in out


def test_shapes_from_names_and_configs(tmp_path):
    assert model_shape("peftc:tiny-llama").hidden == 64
    (tmp_path / "config.json").write_text('{"hidden_size": 256, "num_hidden_layers": 4, '
                                          '"num_attention_heads": 4, "vocab_size": 1000}')
    assert model_shape(str(tmp_path)).layers == 4
    guess = model_shape("someone/cool-13B-chat")
    assert 10e9 < guess.params < 16e9
    assert model_shape("someone/model") is None
