"""The architecture comes from the model's own config.json (a local folder, the Hugging Face
cache, or the hub with --resolve-models); the name tells it only when no config is at hand."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from peftc.compiler import resolve_spec
from peftc.vocab.families import family_of_name
from tests.conftest import findings

SPEC = """
base_model: {model}
datasets:
  - path: data.jsonl
    type: alpaca
adapter: lora
"""


@pytest.mark.parametrize("model_id,family", [
    ("meta-llama/Llama-3.1-8B-Instruct", "llama"),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "llama"),  # a Llama architecture
    ("tiiuae/Falcon3-7B-Instruct", "llama"),  # so is Falcon3
    ("cognitivecomputations/dolphin-2.9-llama3-8b", "llama"),  # not Phi ("dolphin")
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral"),
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2"),
    ("Qwen/Qwen3-8B", "qwen3"),
    ("Qwen/Qwen3-30B-A3B", "qwen3_moe"),
    ("google/gemma-2b", "gemma"),  # Gemma 1 of 2B parameters
    ("google/gemma-2-9b-it", "gemma2"),
    ("google/gemma-3-1b-it", "gemma3_text"),
    ("microsoft/phi-2", "phi"),
    ("microsoft/Phi-3-mini-4k-instruct", "phi3"),
    ("microsoft/phi-4", "phi3"),
    ("EleutherAI/pythia-1b", "gpt_neox"),
    ("tiiuae/falcon-7b", "falcon"),
    ("allenai/OLMo-2-1124-7B", "olmo2"),
    ("allenai/Olmo-3-7B-Instruct-SFT", "olmo3"),
    ("stabilityai/stablelm-zephyr-3b", "stablelm"),
    ("CohereForAI/c4ai-command-r-v01", "cohere"),
    ("openai/gpt-oss-20b", "gpt_oss"),
    ("CohereForAI/c4ai-command-r7b-12-2024", None),  # Cohere 2: not in the table
    ("allenai/OLMo-7B-hf", None),  # OLMo 1: not in the table
])
def test_the_name_tells_the_family_without_a_config(model_id, family):
    assert family_of_name(model_id) == family


def _model_folder(folder: Path, **config) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _spec(tmp_path: Path, model: str, extra: str = "") -> Path:
    (tmp_path / "data.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.lstrip().format(model=model) + extra)
    return path


def test_a_local_folders_config_decides_over_its_name(tmp_path):
    _model_folder(tmp_path / "my-phi-finetune", model_type="qwen3", max_position_embeddings=2048,
                  tie_word_embeddings=True, num_hidden_layers=28)
    [run] = resolve_spec(_spec(tmp_path, "./my-phi-finetune",
                               "sequence_len: 4096\n")).runs
    assert run.values["model_family"] == "qwen3"
    assert "model_type 'qwen3'" in run.sources["model_family"].label
    assert str(tmp_path / "my-phi-finetune" / "config.json") in run.sources["model_family"].label
    assert run.values["lora_target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"]


def test_the_configs_context_is_the_native_context(tmp_path, cli):
    _model_folder(tmp_path / "model", model_type="llama", max_position_embeddings=2048)
    code, out, err = cli("lint", _spec(tmp_path, "./model", "sequence_len: 4096\n"))
    assert "W182" in out and "native context 2048" in out and "config.json" in out


def test_the_hub_cache_holds_the_config(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    repo = cache / "models--acme--house-model-7b"
    _model_folder(repo / "snapshots" / "0123abc", model_type="gemma2")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    [run] = resolve_spec(_spec(tmp_path, "acme/house-model-7b")).runs
    assert run.values["model_family"] == "gemma2"
    assert "snapshots/0123abc/config.json" in run.sources["model_family"].label


def test_an_unknown_architecture_targets_every_linear_layer(tmp_path):
    _model_folder(tmp_path / "model", model_type="mamba2")
    spec = _spec(tmp_path, "./model")
    [run] = resolve_spec(spec).runs
    assert run.values["model_family"] is None
    assert run.values["lora_target_modules"] == "all-linear"
    [note] = [w for w in findings(spec) if w.code == "I211"]
    assert note.severity == "info" and note.line == 1


def test_an_unknown_architecture_stops_ia3_which_needs_its_modules(tmp_path, cli):
    _model_folder(tmp_path / "model", model_type="mamba2")
    spec = _spec(tmp_path, "./model")
    spec.write_text(spec.read_text().replace("adapter: lora", "adapter: ia3"))
    code, out, _ = cli("lint", spec)
    assert code == 1 and "E210" in out


class _Hub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/acme/house-model-7b/resolve/main/config.json":
            body = json.dumps({"model_type": "phi3"}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    yield
    server.shutdown()


def test_resolve_models_reads_the_config_from_the_hub(tmp_path, hub):
    spec = _spec(tmp_path, "acme/house-model-7b")
    [run] = resolve_spec(spec).runs  # not asked: the name tells nothing
    assert run.values["lora_target_modules"] == "all-linear"
    [run] = resolve_spec(spec, resolve_models=True).runs
    assert run.values["model_family"] == "phi3"
    assert run.values["lora_target_modules"] == ["qkv_proj", "o_proj", "gate_up_proj",
                                                 "down_proj"]
    assert "/acme/house-model-7b/resolve/main/config.json" in run.sources["model_family"].label


def test_resolve_models_says_when_the_hub_has_no_config(tmp_path, hub, cli):
    code, out, err = cli("compile", _spec(tmp_path, "acme/qwen3-house"), "-o", tmp_path / "out",
                         "--resolve-models")
    assert code == 0
    assert "W211" in err and "404" in err
    run_yaml = next((tmp_path / "out" / "runs").glob("*/run.yaml")).read_text()
    assert "q_proj" in run_yaml  # told from the name (qwen3)


def test_attention_is_transformers_default_for_the_architecture(tmp_path, cli):
    [run] = resolve_spec(_spec(tmp_path, "google/gemma-2-9b-it")).runs
    assert run.values["attn_implementation"] == "eager"  # Gemma 2 cannot run sdpa
    assert "gemma2 architecture" in run.sources["attn_implementation"].label
    [run] = resolve_spec(_spec(tmp_path, "Qwen/Qwen3-8B")).runs
    assert run.values["attn_implementation"] == "sdpa"
    code, out, _ = cli("lint", _spec(tmp_path, "google/gemma-2-9b-it",
                                     "attn_implementation: sdpa\n"))
    assert code == 1 and "spec.yaml:6:22: E224" in out


@pytest.mark.parametrize("model_id,family", [
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "llama"), ("allenai/OLMo-2-1124-7B", "olmo2")])
def test_llama_and_olmo2_architectures_under_other_names_compile(tmp_path, model_id, family):
    compiled = resolve_spec(_spec(tmp_path, model_id))
    [run] = compiled.runs
    assert run.values["model_family"] == family
    assert run.values["lora_target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"]
    assert "no config.json at hand" in run.sources["model_family"].label


def test_a_model_family_that_is_not_the_configs_is_said(tmp_path, cli):
    _model_folder(tmp_path / "model", model_type="phi3")
    code, out, _ = cli("lint", _spec(tmp_path, "./model", "model_family: llama\n"))
    assert code == 0 and "spec.yaml:6:15: W212" in out and "'phi3' (the phi3 family)" in out
