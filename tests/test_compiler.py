"""The compiler: layers, provenance, batch derivation, adapters, sweeps, output guarantees."""

import json

import pytest
import yaml

from peftc.compiler import compile_spec, resolve_spec
from peftc.diagnostics import PeftcError
from tests.conftest import EXAMPLES, findings

BASE = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
"""

# The seed's example rows (shared/seeds/000-sweep-summary-excerpt.md), cell for cell.
SEED_RUN_ROW = (
    "| meta-llama/Llama-2-7b-hf | meta-llama/Llama-2-7b-hf | lora | paper_math_ift | 1024 | 200 "
    "| 1 | 96 | 768 | 8 | 768 | ceil(768 / (1 * 8)) | 0.0002 | 0.1 | 0.01 | 0.0 | 0.9,0.95 | "
    "AdamW (transformers default) | cosine_with_min_lr | bf16 | 1.0 | false |")
TARGETS = "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
SEED_PEFT_ROWS = [
    f"| meta-llama/Llama-2-7b-hf | lora | {TARGETS} | 16 | 32 | 0.05 | not set | - | - | - | - "
    "| - | - | - | - | - |",
    f"| meta-llama/Llama-2-7b-hf | loraplus | {TARGETS} | 16 | 32 | 0.05 | not set | 20.0 | - | "
    "lora_A=lr(0.0002), lora_B=lr*ratio(0.0002*20.0), lora_embedding_A=lr, "
    "lora_embedding_B=lr*ratio, other=lr | - | - | - | - | - | - |",
    f"| meta-llama/Llama-2-7b-hf | adalora | {TARGETS} | 16 | 32 | 0.05 | not set | - | - | - | "
    "12 | 8 | 200 | 20 | 160 | 2 |",
    f"| meta-llama/Llama-2-7b-hf | pissa | {TARGETS} | 16 | 32 | 0.05 | pissa | - | - | - | - | "
    "- | - | - | - | - |",
]


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "out"
    return compile_spec(EXAMPLES / "sweeps" / "paper-ift.yaml", out), out


def test_paper_sweep_has_32_runs_and_the_seed_rows(paper):
    compiled, out = paper
    assert len(compiled.runs) == 32
    text = (out / "summary.md").read_text()
    metamath = text.split("### Task: metamath")[1].split("### Task:")[0]
    lines = metamath.splitlines()
    header = next(x for x in lines if x.startswith("| base_model | tokenizer_model"))
    assert lines[lines.index(header) + 2] == SEED_RUN_ROW
    peft_header = next(x for x in lines if x.startswith("| base_model | peft_method"))
    start = lines.index(peft_header) + 2
    assert lines[start:start + 4] == SEED_PEFT_ROWS
    for section in ("## Assumptions", "## Train profiles", "### Task -> profile (auto)",
                    "## Task plugins", "## PEFT method specifics", "## Resolved runs",
                    "### Task: metamath", "### Task: magicoder", "### Task: alpaca",
                    "### Task: csqa"):
        assert section in text
    assert "- dataset_id: meta-math/MetaMathQA" in metamath


def test_paper_profiles_follow_the_task(paper):
    compiled, _ = paper
    seen = {(r.values["task"], r.values["profile"], r.values["sequence_len"],
             r.values["gradient_accumulation_steps"]) for r in compiled.runs}
    assert seen == {("metamath", "paper_math_ift", 1024, 96),
                    ("magicoder", "paper_code_ift", 4096, 24),
                    ("alpaca", "paper_default_ift", 2048, 32),
                    ("csqa", "paper_default_ift", 2048, 32)}


def test_manifest_and_run_folders(paper):
    compiled, out = paper
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["run_id"] for r in manifest["runs"]] == [r.run_id for r in compiled.runs]
    assert manifest["axes"] == [["base_model"], ["task"], ["adapter"]]
    first = manifest["runs"][0]
    assert first["axes"] == {"base_model": "meta-llama/Llama-2-7b-hf", "task": "metamath",
                             "adapter": "lora"}
    for run in manifest["runs"]:
        folder = out / run["folder"]
        for name in ("run.yaml", "provenance.json", "accelerate.yaml", "launch.sh"):
            assert (folder / name).is_file()
    cfg = yaml.safe_load((out / first["folder"] / "run.yaml").read_text())
    assert cfg["trainer"]["config"]["gradient_accumulation_steps"] == 96
    assert cfg["adapter"]["config"]["target_modules"][0] == "q_proj"
    # explicit but for what only the machine can tell (tf32: auto, resolved by the runtime)
    assert cfg.pop("precision") == {"bf16": True, "fp16": False, "tf32": "auto",
                                    "bfloat16": False, "float16": False}
    assert "auto" not in yaml.safe_dump(cfg)


def test_run_ids_are_readable_and_stable(paper, tmp_path):
    compiled, _ = paper
    assert compiled.runs[0].run_id.startswith("paper-ift-llama-2-7b-hf-metamath-lora-")
    again = resolve_spec(EXAMPLES / "sweeps" / "paper-ift.yaml")
    assert [r.run_id for r in again.runs] == [r.run_id for r in compiled.runs]
    assert len({r.run_id for r in compiled.runs}) == 32


def test_provenance_of_each_layer(write_spec):
    spec = write_spec(BASE + "lora_r: 8\nsweep:\n  learning_rate: [1.0e-4]\n")
    [run] = resolve_spec(spec, {"lora_dropout": 0.1}).runs
    src = {k: run.source(k).label for k in (
        "lora_alpha", "sequence_len", "datasets", "lora_r", "learning_rate", "lora_dropout",
        "gradient_accumulation_steps", "adapter")}
    assert src["lora_alpha"] == "default:peftc"  # Axolotl has no default; the seeds' 32
    assert src["sequence_len"] == "profile:paper_default_ift"
    assert src["datasets"] == "task:alpaca"
    assert src["lora_r"] == f"spec:{spec}:3:9" or src["lora_r"].endswith(":3:9")
    assert src["learning_rate"] == "sweep"
    assert src["lora_dropout"] == "cli"
    assert src["gradient_accumulation_steps"] == "derived: ceil(256 / (1 * 1))"


def test_method_layer_and_spec_override(write_spec):
    [run] = resolve_spec(write_spec(BASE + "adapter: loraplus\n")).runs
    assert run.values["loraplus_lr_ratio"] == 20.0
    assert run.source("loraplus_lr_ratio").label == "method:loraplus"
    [run] = resolve_spec(write_spec(BASE + "adapter: loraplus\nloraplus_lr_ratio: 8\n")).runs
    assert run.values["loraplus_lr_ratio"] == 8


def test_extends_layers_with_locations(write_spec):
    write_spec("base_model: peftc:tiny-llama\nlora_r: 4\nlora_alpha: 8\n", "base.yaml")
    spec = write_spec("extends: base.yaml\ntask: alpaca\nlora_r: 32\n")
    [run] = resolve_spec(spec).runs
    assert run.values["lora_r"] == 32 and run.values["lora_alpha"] == 8
    assert run.source("lora_alpha").label.endswith("base.yaml:3:13")


@pytest.mark.parametrize("extra,ga,eff,warn", [
    ("global_batch_size: 768\nnum_gpus: 8\n", 96, 768, False),
    ("global_batch_size: 100\nnum_gpus: 8\nmicro_batch_size: 3\n", 5, 120, True),
    ("gradient_accumulation_steps: 4\nmicro_batch_size: 2\nnum_gpus: 2\n", 4, 16, False),
])
def test_batch_derivation(write_spec, extra, ga, eff, warn):
    spec = write_spec(BASE + "profile: none\n" + extra)
    [run] = resolve_spec(spec).runs
    assert run.values["gradient_accumulation_steps"] == ga
    assert run.values["effective_global_batch_size"] == eff
    assert any(w.code == "W201" for w in findings(spec)) == warn


def test_spec_grad_accum_beats_profile_target(write_spec):
    [run] = resolve_spec(write_spec(BASE + "gradient_accumulation_steps: 4\n")).runs
    assert run.values["gradient_accumulation_steps"] == 4  # profile's 256 target is lower


def test_contradicting_batch_in_one_layer(write_spec):
    spec = write_spec(BASE + "global_batch_size: 64\ngradient_accumulation_steps: 4\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    [d] = exc.value.diagnostics
    assert d.code == "E209" and "gradient_accumulation_steps 4 contradicts global_batch_size 64" \
        in d.message
    assert spec.read_text().splitlines()[d.line - 1].startswith("gradient_accumulation_steps")


def _peft(write_spec, text):
    out = write_spec(BASE + "max_steps: 100\n" + text).parent / "out"
    compiled = compile_spec(out.parent / "spec.yaml", out, force=True)
    run_id = compiled.runs[0].run_id
    return yaml.safe_load((out / "runs" / run_id / "run.yaml").read_text())


@pytest.mark.parametrize("adapter,expect", [
    ("lora", {"init_lora_weights": True, "use_dora": False, "use_rslora": False}),
    ("dora", {"use_dora": True}),
    ("rslora", {"use_rslora": True}),
    ("pissa", {"init_lora_weights": "pissa"}),
    ("olora", {"init_lora_weights": "olora"}),
    ("loftq", {"init_lora_weights": "loftq", "loftq_config": {"loftq_bits": 4,
                                                              "loftq_iter": 1}}),
    ("adalora", {"init_r": 12, "target_r": 8, "total_step": 100, "tinit": 10, "tfinal": 80,
                 "deltaT": 1}),
    ("ia3", {"target_modules": ["k_proj", "v_proj", "down_proj"],
             "feedforward_modules": ["down_proj"]}),
    ("prompt_tuning", {"num_virtual_tokens": 20, "prompt_tuning_init": "RANDOM"}),
    ("prefix_tuning", {"num_virtual_tokens": 20, "prefix_projection": False}),
    ("p_tuning", {"num_virtual_tokens": 20, "encoder_hidden_size": 128}),
])
def test_adapter_sections(write_spec, adapter, expect):
    cfg = _peft(write_spec, f"adapter: {adapter}\n")
    section = cfg["adapter"]["config"]
    for key, value in expect.items():
        assert section[key] == value, key
    assert cfg["adapter"]["method"] == adapter


def test_qlora_and_loraplus_sections(write_spec):
    cfg = _peft(write_spec, "adapter: qlora\nbf16: true\n")
    assert cfg["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                   "bnb_4bit_use_double_quant": True}
    assert cfg["adapter"]["prepare_kbit"] is True
    cfg = _peft(write_spec, "adapter: loraplus\n")
    assert cfg["adapter"]["loraplus"] == {"lr_ratio": 20.0, "lr_embedding": 1e-6}


def test_axolotl_flags_resolve_like_the_methods(write_spec):
    assert _peft(write_spec, "adapter: lora\npeft_use_dora: true\n")["adapter"]["config"] == \
        _peft(write_spec, "adapter: dora\n")["adapter"]["config"]
    assert _peft(write_spec, "adapter: lora\npeft_use_rslora: true\n")["adapter"]["config"] == \
        _peft(write_spec, "adapter: rslora\n")["adapter"]["config"]
    assert _peft(write_spec, "adapter: lora\npeft_init_lora_weights: pissa\n")["adapter"][
        "config"] == _peft(write_spec, "adapter: pissa\n")["adapter"]["config"]
    assert _peft(write_spec, "adapter: lora\nloraplus_lr_ratio: 20.0\n")["adapter"] | {
        "method": "x"} == _peft(write_spec, "adapter: loraplus\n")["adapter"] | {"method": "x"}


def test_sweep_grid_order_pairing_and_exclusion(write_spec):
    spec = write_spec(BASE + """
sweep:
  adapter: [lora, dora]
  paired:
    - lora_r: [8, 16]
      lora_alpha: [16, 32]
  exclude:
    - {adapter: dora, lora_r: 8}
""")
    runs = resolve_spec(spec).runs
    got = [(r.values["adapter"], r.values["lora_r"], r.values["lora_alpha"]) for r in runs]
    assert got == [("lora", 8, 16), ("lora", 16, 32), ("dora", 16, 32)]


def test_a_paired_value_may_repeat_a_paired_point_may_not(write_spec):
    """The same lora_r with two alphas is two points; the same (r, alpha) twice is one."""
    spec = write_spec(BASE + "sweep:\n  paired:\n    - {lora_r: [8, 8], lora_alpha: [16, 32]}\n")
    assert [r.values["lora_alpha"] for r in resolve_spec(spec).runs] == [16, 32]
    spec = write_spec(BASE + "sweep:\n  paired:\n    - {lora_r: [8, 8], lora_alpha: [16, 16]}\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    assert [(d.code, d.message) for d in exc.value.diagnostics if d.is_error] == [
        ("E313", "paired sweep point {'lora_r': 8, 'lora_alpha': 16} is listed twice")]
    spec = write_spec(BASE + "sweep:\n  lora_r: [8, 8]\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    assert [d.code for d in exc.value.diagnostics if d.is_error] == ["E313"]


def test_dotted_sweep_keys(write_spec):
    spec = write_spec(BASE + "sweep:\n  lr_scheduler_kwargs.min_lr_rate: [0.0, 0.1]\n")
    runs = resolve_spec(spec).runs
    assert [r.values["lr_scheduler_kwargs"]["min_lr_rate"] for r in runs] == [0.0, 0.1]


def test_bad_sweep_value_names_the_point(write_spec):
    spec = write_spec(BASE + "sweep:\n  lora_r: [8, -1]\n  lora_alhpa: [1]\n")
    with pytest.raises(PeftcError) as exc:
        resolve_spec(spec)
    msgs = {(d.code, d.line) for d in exc.value.diagnostics}
    assert ("E312", 4) in msgs and ("E311", 5) in msgs
    text = " ".join(d.message for d in exc.value.diagnostics)
    assert "sweep value 2 of 'lora_r'" in text and "did you mean 'lora_alpha'" in text


def test_compile_is_deterministic_and_rewrites_nothing(tmp_path):
    spec = EXAMPLES / "sweeps" / "paper-ift.yaml"
    a, b = tmp_path / "a", tmp_path / "b"
    compile_spec(spec, a)
    a.rename(b)
    compile_spec(spec, a)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    mtimes = {p: p.stat().st_mtime_ns for p in a.rglob("*")}
    again = compile_spec(spec, a)
    assert again.result.status == "unchanged"
    assert mtimes == {p: p.stat().st_mtime_ns for p in a.rglob("*")}


def test_changed_spec_needs_force_and_keeps_outputs(write_spec, tmp_path):
    spec = write_spec(BASE + "lora_r: 8\n")
    out = tmp_path / "out"
    first = compile_spec(spec, out)
    trained = out / "runs" / first.runs[0].run_id / "output" / "adapter.bin"
    trained.parent.mkdir()
    trained.write_text("weights")
    spec.write_text(spec.read_text().replace("lora_r: 8", "lora_r: 16"))
    with pytest.raises(PeftcError) as exc:
        compile_spec(spec, out)
    assert exc.value.diagnostics[0].code == "E503"
    assert (out / "runs" / first.runs[0].run_id / "run.yaml").exists()
    second = compile_spec(spec, out, force=True)
    assert second.result.status == "replaced"
    assert trained.read_text() == "weights"
    assert (out / "runs" / second.runs[0].run_id / "run.yaml").exists()


def test_errors_write_nothing(write_spec, tmp_path):
    spec = write_spec(BASE + "sweep:\n  adapter: [lora, adalora]\n")  # adalora needs max_steps
    out = tmp_path / "out"
    with pytest.raises(PeftcError) as exc:
        compile_spec(spec, out)
    [d] = [d for d in exc.value.diagnostics if d.is_error]  # the advisor's warnings come too
    assert d.code == "E204" and d.runs_affected == 1 and d.runs_total == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_cli_compile_dry_run_and_explain(write_spec, cli):
    spec = write_spec(BASE + "sweep:\n  lora_r: [8, 16]\n")
    code, out, err = cli("compile", spec, "--dry-run")
    assert code == 0 and len(out.splitlines()) == 2 and "lora_r=8" in out
    code, out, err = cli("explain", spec, "sequence_len")
    assert code == 0 and "sequence_len = 2048" in out and "profile:paper_default_ift" in out
    code, out, err = cli("explain", spec, "lora_r", "--run", resolve_spec(spec).runs[0].run_id)
    # every layer that set it, in order
    assert "chain:  default:peftc: 16\n      <  sweep: 8" in out
    code, out, err = cli("explain", spec, "gradient_accumulation_steps", "--run",
                         resolve_spec(spec).runs[1].run_id)
    assert "derived: ceil(256 / (1 * 1))" in out


def test_set_overrides_and_bad_set(write_spec, cli, tmp_path):
    spec = write_spec(BASE)
    code, out, err = cli("compile", spec, "-o", tmp_path / "o", "--set", "lora_r=4")
    assert code == 0
    [run_yaml] = (tmp_path / "o").rglob("run.yaml")
    assert yaml.safe_load(run_yaml.read_text())["adapter"]["config"]["r"] == 4
    code, out, err = cli("compile", spec, "--dry-run", "--set", "lora_r=x")
    assert code == 2 and "E006" in err


@pytest.mark.parametrize("extra,code", [
    ("relora_steps: 10\nadapter: ia3\n", "E215"),
    ("chat_template: mychat\n", "E214"),
    ("bf16: true\nfp16: true\n", "E202"),
    ("adapter: qlora\nload_in_4bit: false\n", "E203"),
    ("adapter: adalora\nmax_steps: 10\nadalora_tinit: 5\nadalora_tfinal: 5\n", "E205"),
])
def test_semantic_conflicts(write_spec, extra, code):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(BASE + extra))
    assert code in {d.code for d in exc.value.diagnostics}


def test_dotted_list_keys_patch_and_whole_keys_replace(write_spec):
    spec = write_spec("""
base_model: x/llama-7b
profile: none
datasets:
  - {path: org/a, type: alpaca, split: train}
  - {path: org/b, type: alpaca}
sweep:
  datasets.0.split: [train, test]
""")
    runs = resolve_spec(spec, {"lr_scheduler": "cosine_with_min_lr",
                               "lr_scheduler_kwargs.min_lr_rate": 0.2}).runs
    assert [r.values["datasets"][0]["split"] for r in runs] == ["train", "test"]
    assert all(r.values["datasets"][1]["path"] == "org/b" for r in runs)
    assert runs[0].source("datasets.0.split").label == "sweep"
    assert runs[0].values["lr_scheduler_kwargs"]["min_lr_rate"] == 0.2
    assert runs[0].source("lr_scheduler_kwargs.min_lr_rate").label == "cli"
    whole = write_spec(BASE + "sweep:\n  datasets:\n    - [{path: org/x}]\n    - [{path: org/y}]\n",
                       "whole.yaml")
    runs = resolve_spec(whole).runs
    assert [r.values["datasets"] for r in runs] == [
        [{"path": "org/x", "split": "train", "type": "alpaca"}],
        [{"path": "org/y", "split": "train", "type": "alpaca"}]]


CONCURRENT = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
profile: none
max_steps: 100
sweep: {lora_r: [8, 16, 32, 64], seed: [1, 2, 3, 4, 5, 6, 7, 8]}
"""


def test_concurrent_compiles_into_one_out_take_turns(write_spec, tmp_path):
    import subprocess
    import sys

    spec = write_spec(CONCURRENT)
    out = tmp_path / "out"
    compiles = [subprocess.Popen([sys.executable, "-m", "peftc", "compile", str(spec), "-o",
                                  str(out), "--force"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in compiles]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert all("internal error" not in err for _, _, err in results)
    verbs = sorted(o.split()[0] for _, o, _ in results)
    assert verbs == ["unchanged", "unchanged", "wrote"]  # one wrote, the others waited
    # complete and consistent: byte for byte what a compile on its own writes
    assert compile_spec(spec, out).result.status == "unchanged"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "spec.yaml"]


def test_a_writer_that_ignores_the_lock_is_reported_not_a_crash(write_spec, tmp_path,
                                                                 monkeypatch):
    from peftc.compiler import emit

    out = tmp_path / "out"
    write_all = emit._write_all

    def foreign_writer_too(root, files, executable):  # another program fills OUT meanwhile
        write_all(root, files, executable)
        out.mkdir()
        (out / "theirs.txt").write_text("x")

    monkeypatch.setattr(emit, "_write_all", foreign_writer_too)
    with pytest.raises(PeftcError) as exc:
        compile_spec(write_spec(CONCURRENT), out)
    assert exc.value.diagnostics[0].code == "E504" and exc.value.exit_code == 1
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_a_compile_stopped_mid_write_leaves_out_as_it_was(write_spec, tmp_path, monkeypatch):
    from peftc.compiler import emit

    spec = write_spec(CONCURRENT)
    out = tmp_path / "out"
    compile_spec(spec, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_all = emit._write_all

    def stopped(root, files, executable):  # Ctrl-C halfway through the files
        write_all(root, dict(list(files.items())[: len(files) // 2]), executable)
        raise KeyboardInterrupt

    monkeypatch.setattr(emit, "_write_all", stopped)
    spec.write_text(CONCURRENT.replace("max_steps: 100", "max_steps: 200"))
    with pytest.raises(KeyboardInterrupt):
        compile_spec(spec, out, force=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(KeyboardInterrupt):
        compile_spec(spec, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new.lock", ".out.lock", "out",
                                                          "spec.yaml"]
