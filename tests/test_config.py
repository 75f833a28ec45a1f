"""vmeb.config: one reader for YAML/JSON settings files, one builder of frozen configs."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from vmeb.config import check_keys, config_from_mapping, read_config
from vmeb.errors import VmebError


@dataclass(frozen=True)
class _Settings:
    steps: int = 10
    temperature: float = 300.0
    label: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")


@dataclass(frozen=True)
class _Required:
    size: int


def test_read_yaml_and_json(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 5\nval-per-group: 3\nlist: [a, b]\n")
    assert read_config(path) == {"steps": 5, "val_per_group": 3, "list": ["a", "b"]}
    json_path = tmp_path / "run.json"
    json_path.write_text('{"temperature": 900.5}')
    assert read_config(json_path) == {"temperature": 900.5}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_config(empty) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no such training config file"),
        ("steps: [1, 2\n", r"not valid YAML \("),
        ("- 1\n- 2\n", "training config must be a mapping of settings, not list"),
    ],
)
def test_read_errors_are_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(VmebError, match=message) as info:
        read_config(path, "training config")
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_config_from_mapping_builds_frozen_dataclass(tmp_path):
    settings = config_from_mapping(_Settings, {"steps": 3, "label": "x"})
    assert settings == _Settings(steps=3, temperature=300.0, label="x")
    with pytest.raises(FrozenInstanceError):
        settings.steps = 4  # type: ignore[misc]
    based = config_from_mapping(_Settings, {"temperature": 5.0}, base=settings)
    assert based == _Settings(steps=3, temperature=5.0, label="x")


def test_unknown_keys_are_named_with_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 3\nsweeps: 4\ntemprature: 900\n")
    with pytest.raises(VmebError) as info:
        config_from_mapping(_Settings, read_config(path), path, what="MC settings")
    message = str(info.value)
    assert message.startswith(f"{path}: unknown MC settings keys ['sweeps', 'temprature']")
    assert "known: ['label', 'steps', 'temperature']" in message
    with pytest.raises(VmebError, match=r"^unknown config keys \['x'\]"):
        check_keys({"x": 1, "steps": 2}, {"steps"})


def test_bad_values_name_the_file(tmp_path):
    with pytest.raises(VmebError, match=r"p\.yaml: bad config \(steps must be >= 0, got -1\)"):
        config_from_mapping(_Settings, {"steps": -1}, tmp_path / "p.yaml")
    with pytest.raises(VmebError, match=r"^bad config \(.*missing 1 required .*'size'"):
        config_from_mapping(_Required, {})
