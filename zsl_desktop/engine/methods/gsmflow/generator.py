"""GSMFlow's trained flow run backwards: class prototypes (cached by class row) and synthetic features.

Why apart from ``method.py``: the flow's training is one job; using it as a generator (the drawn classes' columns,
the classifier's synthetic rows, the feature view's cluster centres and samples) is another, read when scoring or
the cluster view changes. ``FlowGenerator`` is a mixin of ``method.GSMFlow`` and expects from it ``_flow``,
``_gsm``, ``_scaler``, ``_attributes`` and ``_proto_cache`` (an OrderedDict, emptied whenever the flow changes).
"""

from __future__ import annotations

import numpy as np
import torch

from ..class_rows import row_keys
from ..generative import FeatureScaler, generator_for
from .seeding import SYNTH

PROTO_CACHE = 256  # class rows whose prototypes are kept (a slider move costs one flow inverse)


class FlowGenerator:
    """``synthesize`` and ``prototypes`` in the feature store's (unscaled) space, and the cached scaled
    prototypes ``_prototype_fn`` that the classifier's drawn-class columns use."""

    @torch.no_grad()
    def _prototype_fn(self, raw_rows: np.ndarray) -> torch.Tensor:
        """Scaled prototypes of raw class rows, cached by row (a slider move costs one flow inverse).

        Made outside inference mode: ``refit_classifier`` trains on cached prototypes later. Without
        gradients: ``inference_mode(False)`` turns them back on, and the flow's inverse then recorded
        its autograd graph on every slider move (and kept it alive in the cache).
        """
        keys = row_keys(raw_rows)
        missing = [i for i, k in enumerate(keys) if k not in self._proto_cache]
        if missing:
            with torch.inference_mode(False), torch.no_grad():
                fresh = self._flow.prototypes(self._gsm(self._attributes(np.asarray(raw_rows)[missing]))).cpu()
            for i, p in zip(missing, fresh):
                self._proto_cache[keys[i]] = p
        out = torch.stack([self._proto_cache[k] for k in keys])  # before evicting: a call may ask for more rows
        while len(self._proto_cache) > PROTO_CACHE:  # than the cache keeps (the refinement's 2·A probe rows)
            self._proto_cache.popitem(last=False)
        return out

    @torch.no_grad()
    def synthesize(self, class_attributes: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        """[K * n, D] features in the feature store's space; rows k*n .. (k+1)*n - 1 belong to class row k."""
        scaler = self._require_scaler()
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        x = self._flow.sample(self._gsm(self._attributes(rows)), int(n), generator_for(int(seed), 0, SYNTH))
        return scaler.inverse(x.cpu()).numpy().astype(np.float32, copy=False)

    @torch.no_grad()
    def prototypes(self, class_attributes: np.ndarray) -> np.ndarray:
        """[K, D] class prototypes f^-1(0; a_g(a)) in the feature store's space (the cluster view's centres)."""
        scaler = self._require_scaler()
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        return scaler.inverse(self._prototype_fn(rows)).numpy().astype(np.float32, copy=False)

    def _require_scaler(self) -> FeatureScaler:
        if self._scaler is None:
            raise ValueError("gsmflow: the model is not trained yet")
        return self._scaler
