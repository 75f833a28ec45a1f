"""An SDM grid too fine for memory is refused up front with an estimate (it crashed in the
allocator), while the paper's and the shipped configs' grids pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vmeb.errors import VmebError
from vmeb.learn.sdm import MIN_BATCH_MAPS, SDMConfig, available_memory, check_sdm_memory

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
GB = 10**9


def test_available_memory_is_a_plausible_number_of_bytes():
    assert 10**8 < available_memory() < 10**15


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_pass(path):
    data = yaml.safe_load(path.read_text()) or {}
    keys = {k: data[k] for k in ("r_c", "l_c", "delta") if k in data}
    config = SDMConfig(**keys)
    check_sdm_memory(config, available=GB)  # even a 1 GB machine takes them


def test_paper_grid_needs_8_mb():
    check_sdm_memory(SDMConfig(delta=0.5), available=MIN_BATCH_MAPS * 32**3 * 4)
    with pytest.raises(VmebError, match="delta = 0.5 Å gives 32"):
        check_sdm_memory(SDMConfig(delta=0.5), available=MIN_BATCH_MAPS * 32**3 * 4 - 1)


def test_fine_grid_refused_with_its_estimate():
    with pytest.raises(VmebError) as info:
        SDMConfig(delta=0.001)
    message = str(info.value)
    assert "delta = 0.001 Å gives 16000^3 = 4,096,000,000,000 voxels per map" in message
    assert "(16.4 TB per species channel); a batch needs at least 64 maps, 1.05 PB" in message
    assert "\n" not in message


def test_refusal_follows_the_memory_available():
    config = SDMConfig(l_c=8.0, delta=0.05)  # 320^3: 131 MB a map, 8.39 GB a batch of 64
    check_sdm_memory(config, available=9 * GB)
    with pytest.raises(VmebError, match=r"8.39 GB, and 8 GB of memory is available"):
        check_sdm_memory(config, available=8 * GB)


def test_training_config_checks_its_sdm_geometry_once(monkeypatch):
    """The SDM settings (and their memory check, which reads /proc) are made once per
    geometry, not for every batch that asks the training config for them."""
    import vmeb.learn.sdm as sdm
    from vmeb.learn.settings import TrainConfig

    calls: list[SDMConfig] = []
    monkeypatch.setattr(sdm, "check_sdm_memory", calls.append)
    config = TrainConfig(l_c=7.75, delta=0.25)  # a geometry no other test uses: 62^3
    first = config.sdm_config()
    assert first.grid_size == 62
    assert all(config.sdm_config() is first for _ in range(50))
    assert all(TrainConfig(l_c=7.75, delta=0.25, seed=k).sdm_config() is first for k in range(5))
    assert len(calls) <= 1
