"""vmeb: path-dependent vacancy migration energy barrier (VMEB) spectra in alloys.

Stages and their hand-offs (ASE ``Atoms`` between stages; units Å, eV, K, amu):

samples (``vmeb.structure.build``, ``vmeb.csro.montecarlo``) -> NEB barriers (``vmeb.neb.site``,
``vmeb.neb.campaign``)
-> barrier datasets (``vmeb.data.dataset``) -> local environments (``vmeb.learn.environment``)
-> spatial density maps (``vmeb.learn.sdm``) -> models (``vmeb.learn.models``,
``vmeb.learn.training``, ``vmeb.learn.checkpoints``)
-> spectra (``vmeb.spectra.predict``, ``vmeb.learn.evaluate``).
"""

from vmeb.errors import VmebError

__version__ = "0.1.0"
__all__ = ["VmebError", "__version__"]
