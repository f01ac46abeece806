"""CE-GZSL / IPCE at inference: codes, scores and a drawn class's live column (the comparator's), with members.

Why apart from ``method.py``: training (critic, generator, classifier) and scoring are two jobs; a slider move
runs only this part. ``CEGZSLScoring`` is a mixin of ``method._CEGZSLBase`` and expects from it ``_head``,
``_scaler``, ``_F``, ``_hp``, ``_members``, ``_models``, ``_split``, ``_embed_scaled``, ``_known_cache``,
``_column_cache`` and ``prepare_class_attributes``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zsl_desktop.engine.live_page import ColumnChange

from ..generative import match_rows, row_keys
from .members import mean_scores, stacked

COMPARATOR_BLOCK_FLOATS = 1 << 18  # 1 MB of float32 per block of the comparator
COLUMN_CACHE = 64
SMALL_QUERY = 64  # codes arrays this short are scored without touching the column cache


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
        if not self._members:
            return self._own_score(codes, class_attributes)
        codes = np.asarray(codes, dtype=np.float32)
        parts = self._split(codes)
        return mean_scores([m._own_score(c, class_attributes) for m, c in zip(self._models(), parts)])

    def _own_score(self, codes: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        head = self._require_head()
        codes = np.asarray(codes, dtype=np.float32)
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        cols = match_rows(head["keys"], rows)
        new = np.nonzero(cols < 0)[0]
        if len(new) == len(cols):
            return self._new_columns(codes, rows)
        out = np.take(self._known_logits(codes), np.maximum(cols, 0), axis=1)
        if len(new):
            out[:, new] = self._new_columns(codes, rows[new])
        return out

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
        """Comparator columns for class rows the classifier does not know, cached per row for these codes.

        LeakyReLU_0.2(t) = 0.8 ReLU(t) + 0.2 t, so with t = u + v the linear part
        0.2 (u.w2 + v.w2) uses u.w2, cached per codes array: one drawn row costs one
        add, one clamp and one matrix-vector product over [N, nhF]. The cache is filled outside
        inference mode (scores are often asked for inside it), so it never holds inference tensors.
        ``stale()`` is asked between blocks of rows: True stops the work (None is returned).
        """
        with torch.inference_mode(False):
            return self._new_columns_cached(codes, rows, stale)

    def _new_columns_cached(self, codes: np.ndarray, rows: np.ndarray, stale=None) -> np.ndarray | None:
        if len(codes) < SMALL_QUERY:  # one image's row: computing beats evicting the big array's cache
            u = self._image_halves(codes)
            return np.stack(self._comparator_columns(u, u @ self._w2(), rows), 1)
        cache = self._column_cache
        if cache is None or cache[0] is not codes:
            u = self._image_halves(codes)
            cache = self._column_cache = (codes, u, u @ self._w2(), {})
        _, u, uw, columns = cache
        keys = row_keys(rows)
        missing = [i for i, k in enumerate(keys) if k not in columns]
        if missing:
            computed = self._comparator_columns(u, uw, rows[missing], stale)
            if computed is None:
                return None
            for i, column in zip(missing, computed):
                columns[keys[i]] = column
        out = np.stack([columns[k] for k in keys], 1)  # before evicting: this call may need more than the cache keeps
        while len(columns) > COLUMN_CACHE:
            columns.pop(next(iter(columns)))
        return out

    def _image_halves(self, codes: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(codes[:, self._hp("embed_size") :]))

    def _w2(self) -> torch.Tensor:
        return self._F.fc2.weight.detach().cpu().reshape(-1)

    def _comparator_columns(self, u: torch.Tensor, uw: torch.Tensor, rows: np.ndarray, stale=None) -> list | None:
        """Calibrated comparator logits [N] of image halves ``u`` [N, nhF] (``uw`` = u.w2) per class row."""
        v = self._class_halves(rows)
        w2 = self._w2()
        b2 = float(self._F.fc2.bias.detach())
        alpha, beta = (float(x) for x in self._head["calibration"])
        tau = self._hp("cls_temp")
        # Blocks of rows small enough to stay in the CPU cache, through one reused buffer:
        # a full-size temporary costs a fresh 20 MB of page faults per slider move (10-60 ms spikes).
        block = max(1, COMPARATOR_BLOCK_FLOATS // max(1, u.shape[1]))
        buffer = torch.empty(min(block, len(u)), u.shape[1])
        out = []
        for j in range(len(v)):
            relu_part = torch.empty(len(u))
            for start in range(0, len(u), block):
                if stale is not None and start and stale():
                    return None
                rows_u = u[start : start + block]
                part = torch.add(rows_u, v[j], out=buffer[: len(rows_u)]).clamp_(min=0)
                torch.mv(part, w2, out=relu_part[start : start + len(rows_u)])
            f = 0.8 * relu_part + 0.2 * (uw + float(v[j] @ w2)) + b2
            out.append((alpha / tau * f + beta).numpy())
        return out

    def _class_halves(self, rows: np.ndarray) -> torch.Tensor:
        """W_a a of each raw class row [K, nhF] (the comparator's class half, without its bias)."""
        a = torch.from_numpy(self.prepare_class_attributes(rows))
        return F.linear(a, self._F.fc_a.weight.detach().cpu())

    # -- one class's column, for live ranking -------------------------------------------------------
    @torch.no_grad()
    def column_change(self, codes: np.ndarray, old_row: np.ndarray, new_row: np.ndarray) -> ColumnChange | None:
        """How far a drawn class's column can move (``_own_column_change``); with members, the mean of their
        bounds (the column is the mean of theirs)."""
        changes = [model._own_column_change(old_row, new_row) for model in self._models()]
        if any(change is None for change in changes):
            return None
        return ColumnChange(
            sum(change.low for change in changes) / len(changes),
            sum(change.high for change in changes) / len(changes),
        )

    def _own_column_change(self, old_row: np.ndarray, new_row: np.ndarray) -> ColumnChange | None:
        """How far a drawn class's comparator column can move for any image, from the two class halves alone.

        Moving the class half v by d moves 0.2 w2.d through the linear part of the LeakyReLU, and unit j's
        0.8 w2_j ReLU(u_j + v_j) by 0.8 w2_j times something in [min(0, d_j), max(0, d_j)] (ReLU is monotone
        and 1-Lipschitz): one interval for every image, alpha / tau on the logit scale. None for a trained
        class's row, whose column is the classifier's.
        """
        head = self._require_head()
        rows = np.ascontiguousarray(np.stack([old_row, new_row]), dtype=np.float32)
        if (match_rows(head["keys"], rows) >= 0).any():
            return None
        v = self._class_halves(rows).double()
        moved = self._w2().double() * (v[1] - v[0])
        scale = float(head["calibration"][0]) / self._hp("cls_temp")
        linear = 0.2 * float(moved.sum())
        low = linear + 0.8 * float(moved.clamp(max=0).sum())
        high = linear + 0.8 * float(moved.clamp(min=0).sum())
        return ColumnChange(scale * low, scale * high)

    def column_rows(self, codes: np.ndarray, rows: np.ndarray, class_row: np.ndarray) -> np.ndarray:
        """Scores of the chosen rows only (the gallery's page), leaving the whole array's caches alone."""
        if not self._members:
            return self._own_column_rows(codes, rows, class_row)
        parts = self._split(np.asarray(codes, dtype=np.float32))
        return mean_scores([m._own_column_rows(c, rows, class_row) for m, c in zip(self._models(), parts)])

    def _own_column_rows(self, codes: np.ndarray, rows: np.ndarray, class_row: np.ndarray) -> np.ndarray:
        head = self._require_head()
        row = np.ascontiguousarray(np.atleast_2d(class_row), dtype=np.float32)
        column = match_rows(head["keys"], row)[0]
        if column >= 0:
            return self._known_logits(codes)[rows, column]
        with torch.no_grad(), torch.inference_mode(False):
            u = torch.from_numpy(np.ascontiguousarray(codes[rows, self._hp("embed_size") :]))
            result = self._comparator_columns(u, u @ self._w2(), row)
        assert result is not None  # nothing can stop it without ``stale``
        return result[0]

    def column_whole(self, codes: np.ndarray, class_row: np.ndarray, stale=lambda: False) -> np.ndarray | None:
        if not self._members:
            return self._own_column_whole(codes, class_row, stale)
        parts = self._split(np.asarray(codes, dtype=np.float32))
        columns = []
        for model, part in zip(self._models(), parts):
            column = model._own_column_whole(part, class_row, stale)
            if column is None:
                return None
            columns.append(column)
        return mean_scores(columns)

    def _own_column_whole(self, codes: np.ndarray, class_row: np.ndarray, stale=lambda: False) -> np.ndarray | None:
        head = self._require_head()
        row = np.ascontiguousarray(np.atleast_2d(class_row), dtype=np.float32)
        if match_rows(head["keys"], row)[0] >= 0:
            return self._own_score(codes, row)[:, 0]
        columns = self._new_columns(np.asarray(codes, dtype=np.float32), row, stale)
        return None if columns is None else columns[:, 0]
