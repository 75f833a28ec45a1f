"""vmeb: path-dependent vacancy migration energy barrier (VMEB) spectra in alloys.

Stages and their hand-offs (ASE ``Atoms`` between stages; units Å, eV, K, amu):

samples (``vmeb.build``, ``vmeb.order``) -> NEB barriers (``vmeb.neb``, ``vmeb.campaign``)
-> barrier datasets (``vmeb.dataset``) -> local environments (``vmeb.environment``)
-> spatial density maps (``vmeb.sdm``) -> models (``vmeb.models``, ``vmeb.training``)
-> spectra (``vmeb.predict``, ``vmeb.evaluate``).
"""

from vmeb.errors import VmebError

__version__ = "0.1.0"
__all__ = ["VmebError", "__version__"]
