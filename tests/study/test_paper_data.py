"""The project-made hops of the paper study: the shared grid campaign plus the rows this project
added (examples/paper/data) open as one dataset with the counts docs/paper_reproduction.md gives."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from vmeb.data.dataset import open_dataset
from vmeb.study.grid import grid_split

ADDED = Path(__file__).resolve().parents[2] / "examples" / "paper" / "data"


def test_shared_campaign_plus_added_rows(tanbmo_dir, tmp_path):
    data = tmp_path / "grid"
    shutil.copytree(tanbmo_dir / "tanbmo-eam-250", data)
    with gzip.open(ADDED / "tanbmo_grid_added_hops.csv.gz", "rt") as added:
        rows = added.read().splitlines()[1:]  # same columns as hops.csv
    with (data / "hops.csv").open("a") as hops:
        hops.write("\n".join(rows) + "\n")
    dataset = open_dataset(data)
    valid = dataset.valid_hops()
    assert len(rows) == 3328 and len(valid) == 6486
    split = grid_split(dataset, tanbmo_dir / "samples" / "index.csv")
    groups = dataset.with_groups()["group"]
    assert groups.isin(split.train_groups).sum() == 5050  # valid hops of the 46 training comps
    assert groups.isin(split.test_groups).sum() == 1436
    assert set(groups) == set(split.train_groups) | set(split.test_groups)
