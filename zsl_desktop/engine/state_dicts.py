"""Whether a state dict fits a network, said in words: the missing, unexpected and misshapen keys.

Shared by our own backbones and timm's, so a user's weights file that does not fit is refused
with the same message whichever network reads it.
"""

from __future__ import annotations

from torch import Tensor


def mismatch(expected: dict[str, Tensor], given: dict[str, Tensor], shown: int = 8) -> str:
    """'missing keys: …; unexpected keys: …; shape mismatches: …' (at most ``shown`` of each), or '' when it fits."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    bad_shape = [
        f"{k}: {tuple(given[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    parts = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", bad_shape)):
        if keys:
            more = f" (+{len(keys) - shown} more)" if len(keys) > shown else ""
            parts.append(f"{label}: {', '.join(keys[:shown])}{more}")
    return "; ".join(parts)
