"""GSMFlow (Chen et al., ACM MM 2021): the method (``method.py``) and its conditional flow with relative
positioning (``flows.py``). The generative pieces it shares with CE-GZSL are in ``methods/generative.py``.
"""

from zsl_desktop.engine.methods.gsmflow.method import GSMFlow

__all__ = ["GSMFlow"]
