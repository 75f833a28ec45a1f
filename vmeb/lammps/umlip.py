"""Named universal machine-learned potentials: ``sevennet:MODEL`` and ``chgnet:VERSION``.

Each family is a class with a spec prefix, its models and the checkpoint file of each inside
the installed wheel (no download at run time; a missing file is an error naming it), registered
once in `FAMILIES`. Both run through ASE calculators (`vmeb.lammps.calculators`) and evaluate
several structures in one model call (``batch``), which the ``ase`` NEB engine uses for the
images of a band: CHGNet everywhere (on the CPU a batch of 5 images costs 0.77x the CPU time of
5 single calls), SevenNet on GPUs only (its batch mode costs 1.5x on the CPU). They come with
the optional extra ``umlip`` (``pip install -e ".[umlip]"``).

Specs (extra ``key=value`` pairs after another colon, e.g. ``sevennet:7net-0:device=cuda``):

| spec | model | reference |
|---|---|---|
| ``sevennet:7net-0`` | SevenNet-0 (11 Jul 2024), MPtrj, PBE(+U) | Park et al. 2024 |
| ``sevennet:7net-mf-0`` | SevenNet-MF-0, ``modal=PBE`` (default) or ``R2SCAN`` | Kim et al. 2024 |
| ``sevennet:7net-l3i5`` | SevenNet-l3i5 (l_max 3, 5 layers), MPtrj | Park et al. 2024 |
| ``chgnet:0.3.0`` | CHGNet 0.3.0, MPtrj | Deng et al. 2023 |
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmeb.errors import VmebError
from vmeb.lammps.calculators import (
    UMLIP_EXTRA,
    CalculatorPotential,
    calculator_potential,
    parse_kwargs,
)

logger = logging.getLogger(__name__)

PARK2024 = "Y. Park, J. Kim, S. Hwang, S. Han, J. Chem. Theory Comput. 20, 4857 (2024) [SevenNet]"
KIM2024 = (
    "J. Kim, J. Kim, J. Kim, J. Lee, Y. Park, Y. Kang, S. Han, J. Am. Chem. Soc. 147, 1042 "
    "(2025) [SevenNet-MF multi-fidelity]"
)
DENG2023 = "B. Deng et al., Nat. Mach. Intell. 5, 1031 (2023) [CHGNet]"


def _package_dir(package: str, spec: str) -> Path:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise VmebError(
            f"potential {spec!r} needs the Python package {package!r}, which is not installed: "
            f"pip install {package} ({UMLIP_EXTRA})"
        )
    return Path(list(found.submodule_search_locations)[0])


def _checkpoint(package: str, relative: str, spec: str) -> Path:
    path = _package_dir(package, spec) / relative
    if not path.is_file():
        raise VmebError(
            f"potential {spec!r}: checkpoint {path} is not in the installed {package} wheel "
            "(vmeb never downloads weights; reinstall the package)"
        )
    return path


class SevenNetFamily:
    """SevenNet models shipped in the ``sevenn`` wheel (``sevenn/pretrained_potentials``)."""

    prefix = "sevennet"
    package = "sevenn"
    #: model -> (checkpoint inside the package, default keyword arguments, citation)
    models: dict[str, tuple[str, dict[str, Any], str]] = {
        "7net-0": ("pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth", {},
                   PARK2024),
        "7net-mf-0": ("pretrained_potentials/SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
                      {"modal": "PBE"}, KIM2024),
        "7net-l3i5": ("pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth", {}, PARK2024),
    }  # fmt: skip
    factory = "vmeb.lammps.umlip:sevennet_calculator"
    batch = "vmeb.lammps.umlip:sevennet_batch"
    #: 5 images of 128 atoms, 1 thread: 4.6 s CPU one by one, 7.1 s as one batch.
    batch_on_cpu = False


class CHGNetFamily:
    """CHGNet models shipped in the ``chgnet`` wheel (``chgnet/pretrained``)."""

    prefix = "chgnet"
    package = "chgnet"
    models: dict[str, tuple[str, dict[str, Any], str]] = {
        "0.3.0": ("pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar", {}, DENG2023),
    }
    factory = "vmeb.lammps.umlip:chgnet_calculator"
    batch = "vmeb.lammps.umlip:chgnet_batch"
    #: 5 images of 128 atoms, 1 thread: 3.7 s CPU one by one, 2.8 s as one batch.
    batch_on_cpu = True


#: Families by spec prefix.
FAMILIES = {family.prefix: family for family in (SevenNetFamily, CHGNetFamily)}


def parse_named_spec(spec: str) -> CalculatorPotential:
    """A `CalculatorPotential` from ``sevennet:MODEL[:k=v,...]`` or ``chgnet:VERSION[:...]``.

    Raises:
        VmebError: an unknown family or model (naming the known ones), bad kwargs, the package
            or its checkpoint missing.
    """
    prefix, _, rest = spec.partition(":")
    family = FAMILIES.get(prefix.strip().lower())
    if family is None:
        raise VmebError(f"potential spec {spec!r}: unknown family; use one of {list(FAMILIES)}")
    model, _, extra = rest.partition(":")
    model = model.strip().lower()
    if model not in family.models:
        raise VmebError(
            f"potential spec {spec!r}: unknown {family.prefix} model {model!r}; shipped: "
            f"{list(family.models)}"
        )
    relative, defaults, citation = family.models[model]
    path = _checkpoint(family.package, relative, spec)
    kwargs = {"checkpoint": str(path), **defaults, **parse_kwargs(extra, spec)}
    return calculator_potential(
        family.factory,
        kwargs,
        spec=spec,
        name=model if family.prefix == "sevennet" else f"chgnet-{model}",
        files=(str(path),),
        package=family.package,
        citation=citation,
        batch=family.batch,
        batch_on_cpu=family.batch_on_cpu,
    )


def sevennet_calculator(checkpoint: str, modal: str | None = None, device: str = "cpu"):
    """A ``sevenn.calculator.SevenNetCalculator`` of a checkpoint file (no download)."""
    import warnings  # noqa: PLC0415

    from sevenn.calculator import SevenNetCalculator  # noqa: PLC0415

    with warnings.catch_warnings():  # "no tensor-product accelerator": expected on CPU
        warnings.simplefilter("ignore")
        return SevenNetCalculator(checkpoint, device=device, modal=modal)


def chgnet_calculator(checkpoint: str, device: str = "cpu"):
    """A ``chgnet.model.dynamics.CHGNetCalculator`` of a checkpoint file (no download)."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    from chgnet.model import CHGNet  # noqa: PLC0415
    from chgnet.model.dynamics import CHGNetCalculator  # noqa: PLC0415

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device
        model = CHGNet.from_file(checkpoint)
        return CHGNetCalculator(model=model, use_device=device)


def sevennet_batch(calc, images: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Energies [R] (eV) and forces [R, N, 3] (eV/Å) of R structures in one SevenNet call.

    The graphs of the structures are collated into one batch (as SevenNet's own TorchSim
    interface does) and the model runs once in batch mode.
    """
    import sevenn._keys as KEY  # noqa: PLC0415, N812
    from sevenn.atom_graph_data import AtomGraphData  # noqa: PLC0415
    from sevenn.train.dataload import unlabeled_atoms_to_graph  # noqa: PLC0415
    from torch_geometric.loader.dataloader import Collater  # noqa: PLC0415

    graphs = []
    for atoms in images:
        data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, calc.cutoff))
        if calc.modal:
            data[KEY.DATA_MODALITY] = calc.modal
        graphs.append(data)
    batch = Collater([], follow_batch=None, exclude_keys=None)(graphs)
    batch.to(calc.device)
    calc.model.set_is_batch_data(True)
    try:
        output = calc.model(batch)
    finally:
        calc.model.set_is_batch_data(False)
    energies = output[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().astype(float).reshape(-1)
    forces = output[KEY.PRED_FORCE].detach().cpu().numpy().astype(float)
    return energies, forces.reshape(len(images), -1, 3)


def chgnet_batch(calc, images: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Energies [R] (eV) and forces [R, N, 3] (eV/Å) of R structures in one CHGNet call."""
    from pymatgen.io.ase import AseAtomsAdaptor  # noqa: PLC0415

    graphs = [
        calc.model.graph_converter(AseAtomsAdaptor.get_structure(atoms)).to(calc.device)
        for atoms in images
    ]
    predictions = calc.model.predict_graph(graphs, task="ef", batch_size=len(graphs))
    energies = np.array(
        [float(p["e"]) * (len(a) if calc.model.is_intensive else 1) for p, a in
         zip(predictions, images, strict=True)]
    )  # fmt: skip
    forces = np.array([np.asarray(p["f"], dtype=float) for p in predictions])
    return energies, forces
