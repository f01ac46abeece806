"""CE-GZSL (Han et al., CVPR 2021) and IPCE (Paul et al., 2023) on it: both methods (``method.py``) and
their networks and losses (``nets.py``). The generative pieces they share with GSMFlow are in
``methods/generative.py``.
"""

from zsl_desktop.engine.methods.ce_gzsl.method import CEGZSL, IPCE

__all__ = ["CEGZSL", "IPCE"]
