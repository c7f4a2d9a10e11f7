"""Every DeepSpeed and accelerate variant the compiler emits, loaded by its owning library."""

from __future__ import annotations

import argparse
import json
import subprocess

import pytest
import yaml

from peftc.compiler import compile_spec
from peftc.diagnostics import PeftcError

pytest.importorskip("deepspeed")

BASE = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
profile: none
max_steps: 100
micro_batch_size: 2
"""


def compiled(write_spec, tmp_path, extra: str, name: str = "spec.yaml"):
    spec = write_spec(BASE + extra, name)
    out = tmp_path / ("out-" + name)
    result = compile_spec(spec, out)
    run_dir = out / "runs" / result.runs[0].run_id
    return run_dir, yaml.safe_load((run_dir / "run.yaml").read_text())


def as_on_a_gpu(run) -> dict:
    """The precision the runtime resolves on a bf16-capable GPU (peftc.runtime.precision)."""
    prec = run["precision"]
    bf16 = prec["bf16"] in (True, "auto")
    return {"bf16": bf16, "fp16": prec["fp16"] is True or (prec["fp16"] == "auto" and not bf16)}


def check_deepspeed(run_dir, run, monkeypatch):
    """transformers' integration against the run's training arguments (no mismatch, every
    "auto" filled), then DeepSpeed's own config classes. Only the precision may be left "auto":
    transformers fills it from the flags the runtime resolves on the machine."""
    import deepspeed.runtime.config as ds_config
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig
    from trl import DPOConfig, SFTConfig

    ds = json.loads((run_dir / "deepspeed.json").read_text())
    rest = {k: v for k, v in ds.items() if k not in ("bf16", "fp16")}
    assert '"auto"' not in json.dumps(rest)
    for prec in ("bf16", "fp16"):
        assert ds[prec]["enabled"] == run["precision"][prec]
    world = run["batch"]["num_gpus"]
    base = SFTConfig if run["trainer"]["kind"] == "sft" else DPOConfig

    class Args(base):  # the trainer's arguments as they are on `world` processes
        @property
        def world_size(self):
            return world

    gpu = as_on_a_gpu(run)
    args = Args(**run["trainer"]["config"], **gpu, use_cpu=True)
    hf = HfTrainerDeepSpeedConfig(ds)
    hf.trainer_config_process(args)
    assert hf.mismatches == []
    assert '"auto"' not in json.dumps(hf.config)
    assert hf.config["bf16"]["enabled"] == gpu["bf16"]
    DeepSpeedZeroConfig(**hf.config["zero_optimization"])  # strict: unknown keys, stage, device

    class DataParallel:  # the world size the run was compiled for
        def get_data_parallel_world_size(self):
            return world

    monkeypatch.setattr(ds_config.dist, "get_rank", lambda *a, **k: 0)
    cfg = ds_config.DeepSpeedConfig(hf.config, mpu=DataParallel())
    assert cfg.train_batch_size == run["batch"]["effective_global_batch_size"]
    assert cfg.gradient_clipping == run["trainer"]["config"]["max_grad_norm"]


def check_accelerate(run_dir, run):
    """accelerate's own launch-argument validation, reading the compiled config file."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    parsed = launch_command_parser().parse_args(
        ["--config_file", str(run_dir / "accelerate.yaml"), "-m", "peftc", "run", "."])
    args = _validate_launch_command(parsed)[0]
    assert args.num_processes == run["launch"]["num_processes"]
    assert args.num_machines == run["launch"]["num_machines"]
    prec = run["precision"]
    if not run["launch"]["deepspeed"]:  # with DeepSpeed, its own file holds the precision
        # "auto": "no" here; transformers sets accelerate's mixed precision from its flags
        assert args.mixed_precision == ("bf16" if prec["bf16"] is True else "fp16"
                                        if prec["fp16"] is True else "no")
    return args


@pytest.mark.parametrize("preset", ["zero1", "zero2", "zero2_offload", "zero3", "zero3_offload"])
@pytest.mark.parametrize("precision", ["bf16: true", "fp16: true", "bf16: false"])
@pytest.mark.parametrize("gpus", [1, 8])
def test_deepspeed_presets(write_spec, tmp_path, monkeypatch, preset, precision, gpus):
    run_dir, run = compiled(write_spec, tmp_path, f"deepspeed: {preset}\n{precision}\n"
                            f"num_gpus: {gpus}\nglobal_batch_size: 64\n")
    check_deepspeed(run_dir, run, monkeypatch)
    args = check_accelerate(run_dir, run)
    assert args.use_deepspeed is True
    assert args.deepspeed_config_file == str(run_dir / "deepspeed.json")
    stage = json.loads((run_dir / "deepspeed.json").read_text())["zero_optimization"]["stage"]
    assert stage == int(preset[4])
    assert args.zero3_init_flag == (stage == 3)


def test_deepspeed_user_file_auto_filled(write_spec, tmp_path, monkeypatch):
    (tmp_path / "ds.json").write_text(json.dumps({
        "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto", "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "zero_optimization": {"stage": 2, "reduce_bucket_size": "auto",
                              "offload_optimizer": {"device": "nvme",
                                                    "nvme_path": "/local_nvme"}}}))
    run_dir, run = compiled(write_spec, tmp_path, "deepspeed: ds.json\nnum_gpus: 4\n"
                            "gradient_accumulation_steps: 3\nbf16: true\n")
    check_deepspeed(run_dir, run, monkeypatch)
    ds = json.loads((run_dir / "deepspeed.json").read_text())
    assert ds["train_batch_size"] == 2 * 3 * 4
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "nvme"


def test_deepspeed_inline_mapping(write_spec, tmp_path, monkeypatch):
    run_dir, run = compiled(write_spec, tmp_path, "deepspeed:\n  zero_optimization:\n"
                            "    stage: 3\n    offload_param: {device: cpu}\nnum_gpus: 2\n")
    check_deepspeed(run_dir, run, monkeypatch)


def test_deepspeed_contradiction_is_an_error(write_spec, tmp_path):
    (tmp_path / "ds.json").write_text(json.dumps({"train_micro_batch_size_per_gpu": 8,
                                                  "zero_optimization": {"stage": 1}}))
    with pytest.raises(PeftcError) as exc:
        compiled(write_spec, tmp_path, "deepspeed: ds.json\n")
    [d] = exc.value.diagnostics
    assert d.code == "E402" and "train_micro_batch_size_per_gpu is 8" in d.message


@pytest.mark.parametrize("extra,dist", [
    ("", "NO"),
    ("num_gpus: 8\n", "MULTI_GPU"),
    ("num_gpus: 16\nnum_machines: 2\n", "MULTI_GPU"),
    ("num_gpus: 4\nbf16: true\nfsdp: {sharding_strategy: FULL_SHARD, offload_params: true}\n",
     "FSDP"),
])
def test_accelerate_variants(write_spec, tmp_path, extra, dist):
    run_dir, run = compiled(write_spec, tmp_path, extra)
    args = check_accelerate(run_dir, run)
    raw = yaml.safe_load((run_dir / "accelerate.yaml").read_text())
    assert raw["distributed_type"] == dist
    if dist == "FSDP":
        assert args.use_fsdp is True
        assert raw["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
        assert raw["fsdp_config"]["fsdp_offload_params"] is True
    if dist == "MULTI_GPU":
        assert args.multi_gpu is True
    launch = (run_dir / "launch.sh").read_text()
    assert "accelerate launch --config_file accelerate.yaml" in launch
    assert subprocess.run(["bash", "-n", str(run_dir / "launch.sh")]).returncode == 0


def test_slurm_script(write_spec, tmp_path):
    spec = write_spec(BASE + """
num_gpus: 16
num_machines: 2
cluster: {partition: gpu, account: lab, nodes: 2, gpus_per_node: 8, time: "12:00:00"}
stages:
  sft: {}
  dpo: {rl: dpo, sft_adapter: "${stages.sft.output_dir}", datasets: [{path: o/p}]}
sweep:
  lora_r: [8, 16]
""")
    out = tmp_path / "out"
    compile_spec(spec, out, slurm=True)
    script = out / "slurm.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert subprocess.run(["bash", "-n", str(out / "slurm-submit.sh")]).returncode == 0
    text = script.read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --nodes=2",
                 "#SBATCH --gpus-per-node=8", "#SBATCH --time=12:00:00", "#SBATCH --array=0-1",
                 "srun", "accelerate launch"):
        assert line in text, line
    submit = (out / "slurm-submit.sh").read_text()
    assert "--dependency=afterok:$prev" in submit and "slurm/wave-1.txt" in submit
    waves = [(out / f"slurm/wave-{k}.txt").read_text().split() for k in (0, 1)]
    manifest = json.loads((out / "manifest.json").read_text())
    stage_of = {r["folder"]: r["stage"] for r in manifest["runs"]}
    assert [stage_of[f] for f in waves[0]] == ["sft", "sft"]
    assert [stage_of[f] for f in waves[1]] == ["dpo", "dpo"]
    for folder in waves[0] + waves[1]:  # every file the script refers to exists
        assert (out / folder / "accelerate.yaml").is_file()
    assert (out / "slurm" / "logs").is_dir()


def test_slurm_world_size_must_match(write_spec, tmp_path):
    spec = write_spec(BASE + "num_gpus: 8\ncluster: {nodes: 2, gpus_per_node: 8}\n")
    with pytest.raises(PeftcError) as exc:
        compile_spec(spec, tmp_path / "out", slurm=True)
    assert exc.value.diagnostics[0].code == "E403"


def _launch_args(**kw):
    base = dict(num_processes=None, num_machines=None, machine_rank=None,
                main_process_ip=None, main_process_port=None, allow_world_size_change=False,
                cpu=False)
    return argparse.Namespace(**{**base, **kw})


def test_launch_command_and_world_size_guard(write_spec, tmp_path):
    from peftc.launch import build_command

    run_dir, _ = compiled(write_spec, tmp_path, "num_gpus: 8\nglobal_batch_size: 64\n")
    cmd, env = build_command(run_dir, _launch_args(machine_rank=1, main_process_ip="10.0.0.1"))
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--config_file",
                        str(run_dir / "accelerate.yaml")]
    assert ["--num_processes", "8"] == cmd[5:7] and "--multi_gpu" in cmd
    assert cmd[-4:] == ["-m", "peftc", "run", str(run_dir)]
    assert "--machine_rank 1" in env["PEFTC_LAUNCH_COMMAND"]
    with pytest.raises(PeftcError) as exc:
        build_command(run_dir, _launch_args(num_processes=4))
    [d] = exc.value.diagnostics
    assert d.code == "E604" and "--set num_gpus=4" in d.hint
    cmd, env = build_command(run_dir, _launch_args(num_processes=4,
                                                   allow_world_size_change=True))
    assert env["PEFTC_GRADIENT_ACCUMULATION_STEPS"] == "8"  # ceil(64 / (2 * 4))
    assert env["PEFTC_WORLD_SIZE"] == "4"  # the runtime's world-size check accepts 4


def test_slurm_flags_override_the_cluster_section(write_spec, cli, tmp_path):
    spec = write_spec(BASE + "num_gpus: 16\nnum_machines: 2\ncluster: {partition: gpu}\n")
    code, out, err = cli("compile", spec, "-o", tmp_path / "out", "--slurm", "--partition",
                         "big", "--nodes", "2", "--gpus-per-node", "8", "--time", "01:00:00",
                         "--account", "me")
    assert code == 0, err
    text = (tmp_path / "out" / "slurm.sbatch").read_text()
    for line in ("--partition=big", "--nodes=2", "--gpus-per-node=8", "--time=01:00:00",
                 "--account=me"):
        assert f"#SBATCH {line}" in text


# the sample configs' FSDP sections (Axolotl's examples mistral/mistral-qlora-fsdp.yml and
# qwen2/qlora-fsdp.yaml): the deprecated list, then fsdp_config with and without prefixes
AXOLOTL_FSDP = """
num_gpus: 2
fsdp: [full_shard, auto_wrap]
fsdp_config:
  fsdp_limit_all_gathers: true
  fsdp_sync_module_states: true
  fsdp_offload_params: true
  use_orig_params: false
  fsdp_cpu_ram_efficient_loading: true
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_sharding_strategy: SHARD_GRAD_OP
"""


def test_axolotls_fsdp_config_reaches_accelerate(write_spec, tmp_path):
    run_dir, run = compiled(write_spec, tmp_path, AXOLOTL_FSDP)
    args = check_accelerate(run_dir, run)
    assert args.use_fsdp is True and run["launch"]["fsdp"] is True
    fsdp = yaml.safe_load((run_dir / "accelerate.yaml").read_text())["fsdp_config"]
    assert fsdp == {
        "fsdp_version": 1,  # as Axolotl pins it
        "fsdp_sharding_strategy": "SHARD_GRAD_OP",  # fsdp_config over the list's full_shard
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer",  # the family's layer
        "fsdp_limit_all_gathers": True, "fsdp_sync_module_states": True,
        "fsdp_offload_params": True, "fsdp_use_orig_params": False,
        "fsdp_cpu_ram_efficient_loading": True, "fsdp_state_dict_type": "FULL_STATE_DICT",
    }
    # accelerate's parser read the settings as written
    assert (args.fsdp_sharding_strategy, args.fsdp_offload_params) == ("SHARD_GRAD_OP", True)


def test_fsdp_version_2_and_the_list_alone(write_spec, tmp_path):
    run_dir, run = compiled(write_spec, tmp_path, "num_gpus: 2\nfsdp_version: 2\nfsdp_config:\n"
                            "  reshard_after_forward: true\n  activation_checkpointing: true\n")
    check_accelerate(run_dir, run)
    fsdp = yaml.safe_load((run_dir / "accelerate.yaml").read_text())["fsdp_config"]
    assert fsdp == {"fsdp_version": 2, "fsdp_reshard_after_forward": True,
                    "fsdp_activation_checkpointing": True}
    run_dir, run = compiled(write_spec, tmp_path, "num_gpus: 2\nfsdp: [offload]\n", "list.yaml")
    check_accelerate(run_dir, run)
    fsdp = yaml.safe_load((run_dir / "accelerate.yaml").read_text())["fsdp_config"]
    assert fsdp == {"fsdp_version": 1, "fsdp_offload_params": True}


@pytest.mark.parametrize("extra,code,words", [
    ("fsdp_config: {fsdp_sharding: FULL_SHARD}\n", "E100", "fsdp_sharding"),
    ("fsdp_config: {limit_all_gathers: false}\n", "E102", "limit_all_gathers"),
    ("fsdp: [full_shard]\ndeepspeed: zero2\n", "E404", "fsdp and deepspeed both shard"),
    ("fsdp_config: {transformer_layer_cls_to_wrap: 'X; rm -rf /'}\n", "E1", "transformer_layer"),
])
def test_fsdp_settings_that_are_refused(write_spec, tmp_path, extra, code, words):
    with pytest.raises(PeftcError) as exc:
        compiled(write_spec, tmp_path, "num_gpus: 2\n" + extra)
    [d] = [d for d in exc.value.diagnostics if d.is_error]
    assert d.code.startswith(code) and words in d.message, d
