import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from harness.core.errors import ConfigError, ModelError
from harness.core.paths import models_dir
from harness.registry.models import ModelRegistry, entry_from_file

MWW_PHRASES = {"mww-alexa", "mww-hey-jarvis", "mww-hey-mycroft", "mww-okay-nabu"}


def test_registry_holds_the_pypi_wake_word_models_and_their_files_verify() -> None:
    registry = ModelRegistry(models_dir())
    assert MWW_PHRASES <= set(registry.names())
    assert {n for n in registry.names() if n.startswith("oww-")} >= {"oww-alexa", "oww-hey-jarvis"}
    for entry in registry.all():
        if entry.artifact.builder is not None:
            continue
        path = entry.artifact_path()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.artifact.sha256
        assert len(entry.stage_paths()) == len(entry.stages)


def _copy_entry(tmp_path: Path, name: str, **changes) -> Path:
    data = yaml.safe_load((models_dir() / f"{name}.yaml").read_text())
    for dotted, value in changes.items():
        obj = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            obj = obj[p]
        obj[leaf] = value
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_hash_mismatch_is_a_clear_model_error(tmp_path) -> None:
    registry = ModelRegistry(_copy_entry(tmp_path, "mww-alexa", **{"artifact.sha256": "0" * 64}))
    with pytest.raises(ModelError, match="sha256 mismatch") as exc:
        registry.get("mww-alexa").artifact_path()
    assert "expected " + "0" * 64 in str(exc.value)


def test_a_file_artifact_is_found_beside_its_yaml(tmp_path) -> None:
    src = ModelRegistry(models_dir()).get("mww-alexa").artifact_path()
    shutil.copy(src, tmp_path / "mine.tflite")
    registry = ModelRegistry(_copy_entry(tmp_path, "mww-alexa", artifact={
        "file": "mine.tflite", "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}))
    assert registry.get("mww-alexa").artifact_path() == tmp_path / "mine.tflite"


def test_artifact_needs_exactly_one_origin(tmp_path) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        ModelRegistry(_copy_entry(tmp_path, "mww-alexa", **{"artifact.file": "x.tflite"})).get("mww-alexa")


def test_missing_package_says_how_to_install(tmp_path) -> None:
    registry = ModelRegistry(_copy_entry(tmp_path, "mww-alexa", **{"artifact.package": "no_such_pkg_xyz"}))
    with pytest.raises(ModelError, match="no_such_pkg_xyz.*not installed"):
        registry.get("mww-alexa").artifact_path()


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        ModelRegistry(models_dir()).get("mww-nonexistent")
    assert "mww-alexa" in (exc.value.hint or "")


def test_a_path_becomes_an_adhoc_entry_with_its_hash(tmp_path) -> None:
    f = tmp_path / "m.tflite"
    f.write_bytes(b"abc")
    entry = entry_from_file(f)
    assert entry.format == "tflite" and entry.artifact.sha256 == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(ModelError, match="unsupported model format"):
        entry_from_file(tmp_path / "m.pt")


def test_bad_yaml_names_file_and_line(tmp_path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\n  task: [unclosed\n")
    registry = ModelRegistry(tmp_path)  # the other entries still load; this one fails when asked for
    assert list(registry.broken) == ["broken"]
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML \(line 2"):
        registry.get("broken")


def test_invalid_field_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"field 'decision.cutoff'"):
        ModelRegistry(_copy_entry(tmp_path, "mww-alexa", **{"decision.cutoff": 1.5})).get("mww-alexa")
