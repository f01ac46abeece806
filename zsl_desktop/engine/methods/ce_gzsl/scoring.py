"""CE-GZSL / IPCE at inference: codes, scores and a drawn class's live column (the comparator's), with members.

Why apart from ``method.py``: training (critic, generator, classifier) and scoring are two jobs; a slider move
runs only this part. ``CEGZSLScoring`` is a mixin of ``method._CEGZSLBase`` and expects from it ``_head``,
``_scaler``, ``_F``, ``_hp``, ``_members``, ``_models``, ``_split``, ``_embed_scaled``, ``_known_cache``,
``_column_cache`` and ``prepare_class_attributes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from zsl_desktop.engine.live_page import ColumnChange

from ..class_rows import match_rows, row_keys
from .members import mean_scores, stacked
from .side_by_side import ClassTerms, ComparatorModel, SideBySide

COMPARATOR_BLOCK_FLOATS = 1 << 18  # 1 MB of float32 per block of the comparator
COLUMN_CACHE = 64
ROW_TERMS = 8  # single class rows whose terms are kept: a slider move asks for the old and the new row several times
SMALL_QUERY = 64  # codes arrays this short are scored without touching the column cache


@dataclass
class ColumnCache:
    """What a drawn class's columns reuse for one codes array while the model stays as it is (every change of the
    model drops it: loading a state, fitting, a classifier's fit, adopting members): the image halves, their linear part, computed columns, the models'
    comparators side by side and single rows' class terms.

    Why the comparators and terms: a slider move asks for them up to ten times (the bound, the page's chunks, the
    selected image, the whole column); built afresh they cost IPCE ~0.35 CPU ms each (five models' class halves)."""

    codes: np.ndarray
    halves: torch.Tensor
    linear: torch.Tensor
    comparators: SideBySide
    columns: dict = field(default_factory=dict)  # {row key: column}
    terms: dict = field(default_factory=dict)  # {row key: ClassTerms of that one row}

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor it holds (a test checks that none is an inference tensor)."""
        sides = self.comparators
        held = [self.halves, self.linear, sides.relu_weights, sides.linear_weights, sides.step_weights]
        return held + [t.negated for t in self.terms.values()]


class CEGZSLScoring:
    """``encode``, ``score`` and the live-column methods (``column_change``, ``column_rows``, ``column_whole``)."""

    # -- inference ---------------------------------------------------------------------------------
    def _require_head(self) -> dict:
        if self._head is None or self._scaler is None:
            raise ValueError(f"{self.name}: the model is not trained yet (no classifier)")
        return self._head

    def _check_features(self, features) -> torch.Tensor:
        x = torch.as_tensor(features).to(torch.float32)
        if x.ndim != 2 or x.shape[1] != int(self.info.channels):
            raise ValueError(f"{self.name}: pooled features must be [N, {self.info.channels}], got {tuple(x.shape)}")
        return x

    @torch.no_grad()
    def encode(self, features: torch.Tensor) -> np.ndarray:
        """[N, embed_size + nhF] codes: h and the image half of the comparator's first layer; with members,
        each member's block of that width after this model's."""
        if not self._members:
            return self._own_codes(features)
        return stacked([model._own_codes(features) for model in self._models()])

    def _own_codes(self, features: torch.Tensor) -> np.ndarray:
        self._require_head()
        x = self._check_features(features).to(self.device)
        h, _ = self._embed_scaled(self._scaler(x))
        u = self._F.image_half(h)
        return torch.cat((h, u), 1).cpu().numpy().astype(np.float32, copy=False)

    def score(self, codes: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        """[N, K] logits: classifier logits for trained class rows, calibrated comparator columns for others;
        with members, the mean of every model's (members.py)."""
        head = self._require_head()
        codes = np.asarray(codes, dtype=np.float32)
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        cols = match_rows(head["keys"], rows)  # every member is trained on the same classes: the same keys
        new = np.nonzero(cols < 0)[0]
        if len(new) == len(cols):
            return self._new_columns(codes, rows)
        out = self._known_scores(codes, np.maximum(cols, 0))
        if len(new):
            out[:, new] = self._new_columns(codes, rows[new])
        return out

    def _known_scores(self, codes: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The classifiers' logits of columns ``cols`` [N, len(cols)], the mean of every model's."""
        if not self._members:
            return np.take(self._known_logits(codes), cols, axis=1)
        parts = self._split(codes)
        return mean_scores([np.take(m._known_logits(p), cols, axis=1) for m, p in zip(self._models(), parts)])

    def _known_logits(self, codes: np.ndarray) -> np.ndarray:
        cache = self._known_cache
        if cache is not None and cache[0] is codes:
            return cache[1]
        dim_h = self._hp("embed_size")
        logits = codes[:, :dim_h] @ self._head["weight"].numpy().T + self._head["bias"].numpy()
        self._known_cache = (codes, logits)
        return logits

    @torch.no_grad()
    def _new_columns(self, codes: np.ndarray, rows: np.ndarray, stale=None) -> np.ndarray | None:
        """The mean of every model's calibrated comparator column for class rows no classifier knows, cached
        per row for these codes (``side_by_side``: one pass over every model's image halves).

        The cache is filled outside inference mode (scores are often asked for inside it), so it never holds
        inference tensors. ``stale()`` is asked between blocks of rows: True stops the work (None is returned).
        """
        with torch.inference_mode(False):
            return self._new_columns_cached(codes, rows, stale)

    def _new_columns_cached(self, codes: np.ndarray, rows: np.ndarray, stale=None) -> np.ndarray | None:
        if len(codes) < SMALL_QUERY:  # one image's row: computing beats evicting the big array's cache
            comparators = self._side_by_side()
            halves = self._image_halves(codes)
            terms = self._row_terms(rows[0]) if len(rows) == 1 else comparators.class_terms(rows)
            return np.stack(comparators.columns(halves, comparators.linear_part(halves), terms), 1)
        cache = self._column_cache_of(codes)
        comparators, halves, linear, columns = cache.comparators, cache.halves, cache.linear, cache.columns
        keys = row_keys(rows)
        missing = [i for i, k in enumerate(keys) if k not in columns]
        if missing:
            terms = self._row_terms(rows[missing[0]]) if len(missing) == 1 else comparators.class_terms(rows[missing])
            computed = comparators.columns(halves, linear, terms, stale=stale)
            if computed is None:
                return None
            for i, column in zip(missing, computed):
                columns[keys[i]] = column
        out = np.stack([columns[k] for k in keys], 1)  # before evicting: this call may need more than the cache keeps
        while len(columns) > COLUMN_CACHE:
            columns.pop(next(iter(columns)))
        return out

    def _column_cache_of(self, codes: np.ndarray) -> ColumnCache:
        """The ``ColumnCache`` of ``codes``, made once per codes array (the comparators kept from the last one)."""
        cache = self._column_cache
        if cache is None or cache.codes is not codes:
            comparators = self._side_by_side()
            halves = self._image_halves(codes)
            cache = self._column_cache = ColumnCache(codes, halves, comparators.linear_part(halves), comparators)
        return cache

    def prepare_live(self, codes: np.ndarray) -> None:
        """The image halves of every code and their linear part, made in the worker when the model loads: on a
        session's first slider move they cost IPCE 0.25-2.2 CPU s at 100,000 images (1 GB: the more on fresh
        memory; docs/history/performance.md, session 14)."""
        if self._head is None or self._scaler is None or len(codes) < SMALL_QUERY:  # untrained: no live moves
            return
        with torch.no_grad(), torch.inference_mode(False):  # the cache never holds inference tensors
            self._column_cache_of(np.asarray(codes, dtype=np.float32))

    def _image_halves(self, codes: np.ndarray) -> torch.Tensor:
        """[N, K x nhF] every model's image half u, side by side: one contiguous ``copyto`` from a [N, K, W] view of
        the codes, since the pass reads only these and a column on the strided codes took twice the CPU time. IPCE's
        five models at 100,000 images: 0.25 CPU s, against ~2 s for concatenating the strided columns (the
        alternatives measured: docs/history/performance.md, session 14)."""
        dim_h, models = self._hp("embed_size"), len(self._members) + 1
        if codes.ndim != 2 or codes.shape[1] % models:
            raise ValueError(f"codes of width {codes.shape[-1]} do not split into {models} models' codes")
        count, width = len(codes), codes.shape[1] // models
        halves = np.empty((count, models * (width - dim_h)), np.float32)
        np.copyto(halves.reshape(count, models, width - dim_h), codes.reshape(count, models, width)[:, :, dim_h:])
        return torch.from_numpy(halves)

    def _side_by_side(self) -> SideBySide:
        """Every model's comparator and calibration as one (``side_by_side.py``); its weights are views. Kept in the
        column cache, which every change of the model drops."""
        cache = self._column_cache
        if cache is not None:
            return cache.comparators
        models = []
        for model in self._models():
            head = model._require_head()
            alpha, beta = (float(x) for x in head["calibration"])
            comparator = model._F
            models.append(
                ComparatorModel(
                    w2=comparator.fc2.weight.detach().cpu().reshape(-1),
                    b2=float(comparator.fc2.bias.detach()),
                    scale=alpha / model._hp("cls_temp"),
                    beta=beta,
                    class_half=model._class_halves,
                )
            )
        return SideBySide(models, COMPARATOR_BLOCK_FLOATS)

    def _row_terms(self, row: np.ndarray) -> ClassTerms:
        """``class_terms`` of one raw class row, kept in the column cache (``ROW_TERMS`` rows) when there is one."""
        row = np.ascontiguousarray(row, dtype=np.float32).reshape(1, -1)
        cache = self._column_cache
        if cache is None:
            return self._side_by_side().class_terms(row)
        key = row.tobytes()
        terms = cache.terms.get(key)
        if terms is None:
            with torch.no_grad(), torch.inference_mode(False):  # kept: never an inference tensor
                terms = cache.terms[key] = cache.comparators.class_terms(row)
            while len(cache.terms) > ROW_TERMS:
                cache.terms.pop(next(iter(cache.terms)))
        return terms

    def _class_halves(self, rows: np.ndarray) -> torch.Tensor:
        """W_a a of each raw class row [K, nhF] (the comparator's class half, without its bias)."""
        a = torch.from_numpy(self.prepare_class_attributes(rows))
        return F.linear(a, self._F.fc_a.weight.detach().cpu())

    # -- one class's column, for live ranking -------------------------------------------------------
    @torch.no_grad()
    def column_change(self, codes: np.ndarray, old_row: np.ndarray, new_row: np.ndarray) -> ColumnChange | None:
        """How far a drawn class's column (the mean of every model's) can move for any image
        (``SideBySide.change``); None for a trained class's row, whose column is the classifiers'."""
        head = self._require_head()
        rows = np.ascontiguousarray(np.stack([old_row, new_row]), dtype=np.float32)
        if (match_rows(head["keys"], rows) >= 0).any():
            return None
        low, high = self._side_by_side().change_between(self._row_terms(rows[0]), self._row_terms(rows[1]))
        return ColumnChange(low, high)

    def column_rows(self, codes: np.ndarray, rows: np.ndarray, class_row: np.ndarray) -> np.ndarray:
        """Scores of the chosen rows only (the gallery's page): read from the whole array's cached image halves
        when they are these codes' (left as they are), else from the codes."""
        head = self._require_head()
        codes = np.asarray(codes, dtype=np.float32)
        row = np.ascontiguousarray(np.atleast_2d(class_row), dtype=np.float32)
        column = match_rows(head["keys"], row)[0]
        if column >= 0:
            return self._known_scores(codes, np.array([column]))[rows, 0]
        comparators = self._side_by_side()
        with torch.no_grad(), torch.inference_mode(False):
            terms = self._row_terms(row[0])
            cache = self._column_cache
            if cache is not None and cache.codes is codes:
                picked = torch.from_numpy(np.asarray(rows, np.int64))
                result = comparators.columns(cache.halves, cache.linear, terms, rows=picked)
            else:
                halves = self._image_halves(codes[rows])
                result = comparators.columns(halves, comparators.linear_part(halves), terms)
        assert result is not None  # nothing can stop it without ``stale``
        return result[0]

    def column_whole(self, codes: np.ndarray, class_row: np.ndarray, stale=lambda: False) -> np.ndarray | None:
        head = self._require_head()
        row = np.ascontiguousarray(np.atleast_2d(class_row), dtype=np.float32)
        codes = np.asarray(codes, dtype=np.float32)
        if match_rows(head["keys"], row)[0] >= 0:
            return self.score(codes, row)[:, 0]
        columns = self._new_columns(codes, row, stale)
        return None if columns is None else columns[:, 0]
