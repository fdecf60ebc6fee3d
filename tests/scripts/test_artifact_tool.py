"""scripts/notebook/artifact_tool.py, the artifact job's Python steps, on its own: its functions, its
command line as artifact-job.sh calls it, and the Python it must run on."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from inf2_llm.lifecycle import SCRIPT_DIR

TOOL = SCRIPT_DIR / "artifact_tool.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = {"checkpoint_id": "MLP-KTLim/llama-3-Korean-Bllossom-8B", "checkpoint_revision": "0123abcd" * 5}
TGI_CONFIG = {"model_type": "llama", "neuron": {"batch_size": 4, "auto_cast_type": "bf16", **CHECKPOINT}}
PROVENANCE = {
    "model_source": "mirror",
    "model_id": "someone/precompiled",
    "revision": "89abcdef" * 5,
    "checkpoint_id": CHECKPOINT["checkpoint_id"],
    "checkpoint_revision": CHECKPOINT["checkpoint_revision"],
    "image": "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:tag",
}
SETTINGS = {"batch_size": 4, "sequence_length": 4096, "auto_cast_type": None, "num_cores": 2}


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("artifact_tool", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def run_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The tool as artifact-job.sh runs it, on an interpreter without site-packages (-I -S): the
    notebook's python3 has only the standard library for root."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(TOOL), *arguments], capture_output=True, text=True, check=False
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model folder as optimum-neuron 0.0.28 leaves it: the neuron configuration in config.json."""
    (tmp_path / "compiled").mkdir()
    (tmp_path / "compiled" / "model.neff").write_bytes(b"\x00neff" * 1000)
    (tmp_path / "config.json").write_text(json.dumps(TGI_CONFIG))
    return tmp_path


def test_neuron_config_is_the_section_or_the_whole_file(model_dir: Path) -> None:
    """TGI's export records its settings under config.json's "neuron"; vLLM's neuron_config.json is
    the record itself; a file without the section records nothing, which the check then refuses."""
    (model_dir / "neuron_config.json").write_text(json.dumps({"tp_degree": 2}))
    assert tool.neuron_config(str(model_dir), "config.json", "neuron") == TGI_CONFIG["neuron"]
    assert tool.neuron_config(str(model_dir), "neuron_config.json", "") == {"tp_degree": 2}
    assert tool.neuron_config(str(model_dir), "neuron_config.json", "neuron") == {}


@pytest.mark.parametrize("content", [None, "{not json"], ids=["missing", "not-json"])
def test_an_unreadable_neuron_config_is_a_refusal_naming_the_file(model_dir: Path, content: str | None) -> None:
    """An export that left no readable configuration is reported as such, in one line the job can
    send to CloudFormation, not as a traceback."""
    if content is not None:
        (model_dir / "neuron_config.json").write_text(content)
    with pytest.raises(tool.Refusal, match=r"^neuron_config\.json cannot be read: "):
        tool.neuron_config(str(model_dir), "neuron_config.json", "")


@pytest.mark.parametrize("missing", ["checkpoint_id", "checkpoint_revision"])
def test_compiled_from_needs_both_the_id_and_the_commit(missing: str) -> None:
    """The mirror fetches the weights at the recorded commit; with either half missing it has
    nothing pinned to fetch, and must say so rather than fetch the newest weights."""
    assert tool.compiled_from(CHECKPOINT) == (CHECKPOINT["checkpoint_id"], CHECKPOINT["checkpoint_revision"])
    assert tool.compiled_from({**CHECKPOINT, missing: None}) is None
    assert tool.compiled_from({key: value for key, value in CHECKPOINT.items() if key != missing}) is None


def test_mismatches_name_each_setting_recorded_otherwise() -> None:
    """The reason CloudFormation shows must say which setting differs and how, in Python's notation
    (a string quoted, a missing key as None), and nothing about the settings that match."""
    recorded = {"batch_size": 8, "auto_cast_type": "fp16", "sequence_length": 4096}
    expected = {"batch_size": 4, "auto_cast_type": "bf16", "sequence_length": 4096, "tp_degree": 2}
    assert tool.mismatches(recorded, expected) == [
        "batch_size=8 (expected 4)",
        "auto_cast_type='fp16' (expected 'bf16')",
        "tp_degree=None (expected 2)",
    ]
    assert tool.mismatches({**recorded, **expected}, expected) == []


def test_manifest_lists_every_file_with_its_size_and_checksum(model_dir: Path) -> None:
    """The manifest is how a user checks what S3 holds and where it came from: every file under the
    model folder, subfolders included, in a stable order, with sizes and SHA-256 sums."""
    document = tool.manifest(str(model_dir), PROVENANCE, SETTINGS)
    assert list(document) == ["model_source", "model_id", "revision", "checkpoint", "image", "settings", "files"]
    assert document["checkpoint"] == {
        "model_id": PROVENANCE["checkpoint_id"],
        "revision": PROVENANCE["checkpoint_revision"],
    }
    assert (document["model_source"], document["model_id"], document["revision"], document["image"]) == (
        PROVENANCE["model_source"],
        PROVENANCE["model_id"],
        PROVENANCE["revision"],
        PROVENANCE["image"],
    )
    assert document["settings"] == SETTINGS
    assert [entry["path"] for entry in document["files"]] == ["compiled/model.neff", "config.json"]
    for entry in document["files"]:
        content = (model_dir / entry["path"]).read_bytes()
        assert entry == {"path": entry["path"], "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def test_cli_check_is_silent_when_the_model_matches(model_dir: Path) -> None:
    """artifact-job.sh takes exit status 0 as "servable as configured" and uses no output."""
    result = run_tool(
        "check", str(model_dir), "--file", "config.json", "--section", "neuron", "--expected", '{"batch_size": 4}'
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_cli_check_refuses_with_one_line(model_dir: Path) -> None:
    """The refusal becomes the CloudFormation failure reason: exit status 1 and one line naming the
    file and each wrong setting."""
    expected = json.dumps({"batch_size": 8, "auto_cast_type": "bf16"})
    result = run_tool("check", str(model_dir), "--file", "config.json", "--section", "neuron", "--expected", expected)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "config.json records batch_size=4 (expected 8)\n"


def test_cli_compiled_from_prints_what_read_splits(model_dir: Path) -> None:
    """artifact-job.sh reads the answer with `read -r CHECKPOINT_ID CHECKPOINT_REVISION`: the id,
    one space, the commit; exit status 1 when the copy records no checkpoint."""
    result = run_tool("compiled-from", str(model_dir), "--file", "config.json", "--section", "neuron")
    assert (result.returncode, result.stdout) == (
        0,
        f"{CHECKPOINT['checkpoint_id']} {CHECKPOINT['checkpoint_revision']}\n",
    )
    (model_dir / "config.json").write_text(json.dumps({"neuron": {"batch_size": 4}}))
    result = run_tool("compiled-from", str(model_dir), "--file", "config.json", "--section", "neuron")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "config.json records no checkpoint_id and checkpoint_revision\n"


def test_cli_manifest_prints_the_manifest_as_json(model_dir: Path) -> None:
    """The job writes stdout to manifest.json and uploads it as the completion marker too."""
    options = [f"--{name.replace('_', '-')}={value}" for name, value in PROVENANCE.items()]
    result = run_tool("manifest", str(model_dir), *options, "--settings", json.dumps(SETTINGS))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == tool.manifest(str(model_dir), PROVENANCE, SETTINGS)


def test_cli_refuses_a_call_it_does_not_know(model_dir: Path) -> None:
    """A script calling the tool wrongly (a renamed option, a missing value) must fail the step, not
    pass it with a default."""
    assert run_tool("check", str(model_dir), "--file", "config.json").returncode == 2
    assert run_tool("compile", str(model_dir)).returncode == 2


def test_runs_on_the_notebooks_python_3_9() -> None:
    """The notebook runs the tool on AL2023's /usr/bin/python3, which "will remain as Python 3.9 for
    the life of AL2023" (https://docs.aws.amazon.com/linux/al2023/ug/python.html); a newer syntax or
    library call would only fail there, mid-deploy. mypy checks both against 3.9's grammar and
    standard library."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mypy"), "--python-version", "3.9", str(TOOL)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
