"""MSDN (Chen et al., CVPR 2022): the network and losses (``nets``), the method (``method``), its region
projection (``regions``) and checkpoint state (``state``).

Importing the package registers the method (``methods.base.register``); the names below are the ones the
tests and the parity scripts (docs/official) use.
"""

from .method import MSDN
from .nets import PARAMETER_NAMES, MSDNNet, cross_entropy_loss, distillation_loss, jensen_shannon, self_calibration_loss

__all__ = [
    "MSDN",
    "PARAMETER_NAMES",
    "MSDNNet",
    "cross_entropy_loss",
    "distillation_loss",
    "jensen_shannon",
    "self_calibration_loss",
]
