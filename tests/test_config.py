"""vmeb.config: one reader for YAML/JSON settings files, one builder of frozen configs."""

from __future__ import annotations

import math
import re
from dataclasses import FrozenInstanceError, dataclass

import pytest

from vmeb.config import check_bounds, check_keys, config_from_mapping, read_config
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


@dataclass(frozen=True)
class _Typed:
    lr: float = 1e-3
    epochs: int = 10
    mirror: bool = True
    name: str = "x"
    batch_size: int | None = None
    hidden: tuple[int, ...] = (10,)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr": "abc"}, "lr: expected a number, got 'abc'"),
        ({"lr": True}, "lr: expected a number, got True"),
        ({"epochs": 2.5}, "epochs: expected an integer, got 2.5"),
        ({"epochs": "ten"}, "epochs: expected an integer, got 'ten'"),
        ({"mirror": 3}, "mirror: expected true or false, got 3"),
        ({"name": 5}, "name: expected a string, got 5"),
        ({"batch_size": "big"}, "batch_size: expected an integer, got 'big'"),
        ({"hidden": [10, "x"]}, r"hidden: expected an integer, got \[10, 'x'\]"),
        ({"hidden": 10}, "hidden: expected a list, got 10"),
    ],
)
def test_values_of_the_wrong_type_are_named_with_the_file(tmp_path, values, message):
    path = tmp_path / "run.yaml"
    with pytest.raises(VmebError, match=f"^{re.escape(str(path))}: {message}$"):
        config_from_mapping(_Typed, values, path)


def test_values_are_converted_to_their_field_types(tmp_path):
    path = tmp_path / "run.yaml"
    # YAML 1.1 (PyYAML) reads 1e-3 as a string and 1.0e-3 as a float: both are the number
    path.write_text("lr: 1e-3\nepochs: 30.0\nbatch_size: null\nhidden: [64, 32]\n")
    typed = config_from_mapping(_Typed, read_config(path), path)
    assert typed == _Typed(lr=0.001, epochs=30, batch_size=None, hidden=(64, 32))
    assert type(typed.lr) is float and type(typed.epochs) is int
    assert config_from_mapping(_Typed, {"lr": 2, "batch_size": 8}).lr == 2.0


def test_training_config_file_with_bad_values(tmp_path):
    from vmeb.learn.settings import resolve_train_config  # noqa: PLC0415

    path = tmp_path / "train.yaml"
    path.write_text("kind: nn\nepochs: -3\n")
    expected = f"^{re.escape(str(path))}: epochs = -3: epochs must be finite and > 0$"
    with pytest.raises(VmebError, match=expected):
        resolve_train_config({}, path)
    path.write_text("kind: nn\nweight_decay: 1e-5\n")
    assert resolve_train_config({}, path).weight_decay == 1e-5


def test_check_bounds_names_every_bad_field():
    @dataclass(frozen=True)
    class Settings:
        rate: float = 1.0
        count: int = 0
        tolerance: float = 0.0

    check_bounds(Settings(), positive=("rate",), nonnegative=("count", "tolerance"))  # fine
    with pytest.raises(VmebError) as info:
        check_bounds(
            Settings(rate=0.0, count=-1, tolerance=math.nan),
            positive=("rate",),
            nonnegative=("count", "tolerance"),
        )
    assert str(info.value) == (
        "rate = 0.0, count = -1, tolerance = nan: rate must be finite and > 0; count must be "
        "finite and >= 0; tolerance must be finite and >= 0"
    )
    with pytest.raises(VmebError, match=r"^rate = inf: rate must be finite and > 0$"):
        check_bounds(Settings(rate=math.inf), positive=("rate",))
