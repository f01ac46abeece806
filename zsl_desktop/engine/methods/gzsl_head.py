"""The final GZSL classifier of the generative methods, in code space (``GZSLHead``), and how it is trained.

Codes are the scaled features projected onto an orthonormal basis Q that spans the class prototypes, the feature
mean and the top principal directions of the real features (``code_basis``, ``principal_directions``); the
classifier (``generative.averaged_softmax``) is trained on the codes. Why: a score then costs N x r x K instead of
N x D x K (r ~ K + 129 against D = 1280-2048), training the classifier is D / r times cheaper, and a classifier
refit for a new class (``refit_head``) happens in the same space, so codes the app has cached stay valid.

A row that is not one of the trained classes (a class the user drew) gets a prototype column:
w = mean(W) + a (pi - mean(pi)), b = mean(b) - b' (|p|^2 - mean |p|^2), p the class prototype in scaled feature
space, pi its code; (a, b') are fitted by least squares (``fit_calibration``) so that the known classes'
prototype columns reproduce their classifier logits (the calibrated nearest-class-mean rule on the classifier's
logit scale). GSMFlow uses it; CE-GZSL/IPCE score in their own embedding space (``ce_gzsl/scoring.py``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from zsl_desktop.engine.live_page import CodeProjection, ColumnChange

from .class_rows import KnownRows, match_rows, row_keys
from .generative import FeatureScaler, averaged_softmax

DRAWN_CACHE = 16  # drawn classes' columns kept per head


def principal_directions(features: torch.Tensor, count: int) -> torch.Tensor:
    """Top ``count`` principal directions [count, D] of the rows (computed once per training run)."""
    if count <= 0 or features.shape[0] < 2:
        return features.new_zeros(0, features.shape[1])
    centred = features.double() - features.double().mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:count].float()


def code_basis(spans: list[torch.Tensor], tol: float = 1e-6) -> torch.Tensor:
    """Orthonormal Q [D, r] spanning the rows of every matrix in ``spans``."""
    m = torch.cat([s.double() for s in spans])
    _, sv, vh = torch.linalg.svd(m, full_matrices=False)
    rank = int((sv > tol * sv[0]).sum()) if sv.numel() else 0
    return vh[:rank].t().contiguous().float()


def fit_calibration(codes, weight, bias, proto_codes, proto_sq) -> torch.Tensor:
    """(a, b') least squares: centred logits ~ a * centred(codes . pi) - b' * centred(|p|^2)."""
    z = codes @ weight.t() + bias
    z = z - z.mean(1, keepdim=True)
    f1 = codes @ proto_codes.t()
    f1 = f1 - f1.mean(1, keepdim=True)
    f2 = -(proto_sq - proto_sq.mean()).expand_as(f1)
    design = torch.stack((f1.reshape(-1), f2.reshape(-1)), 1).double()
    solution = torch.linalg.lstsq(design, z.reshape(-1, 1).double()).solution.reshape(-1)
    a, b = float(solution[0]), float(solution[1])
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:  # degenerate fit: plain nearest-mean scale
        a, b = 1.0, 0.5
    return torch.tensor([a, b])


@dataclass
class GZSLHead:
    """The final classifier over known classes, in code space, plus prototype columns for new classes."""

    scaler: FeatureScaler
    basis: torch.Tensor  # [D, r]
    class_rows: np.ndarray  # [K, A] raw attributes of the classes the classifier knows
    weight: torch.Tensor  # [K, r]
    bias: torch.Tensor  # [K]
    proto_codes: torch.Tensor  # [K, r] known classes' prototypes, projected
    proto_sq: torch.Tensor  # [K] their squared norms in scaled feature space
    calibration: torch.Tensor  # [2]: a, b'
    _keys: dict = field(default=None, repr=False)
    _cache: tuple = field(default=None, repr=False)
    _centre: tuple = field(default=None, repr=False)
    _drawn: dict = field(default=None, repr=False)  # row bytes -> (w, b) of a drawn class (a slider asks again)
    _projection: CodeProjection = field(default=None, repr=False)  # the last codes around their mean: live bounds

    def __post_init__(self):
        self.class_rows = np.ascontiguousarray(self.class_rows, dtype=np.float32)
        self._keys = KnownRows(self.class_rows)
        self._drawn = {}
        self._projection = CodeProjection()
        if len(self.weight):  # what every prototype column starts from (computed once: score runs per slider move)
            self._centre = (self.weight.mean(0), self.bias.mean(), self.proto_codes.mean(0), self.proto_sq.mean())

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def empty(cls, scaler, basis) -> "GZSLHead":
        """A head with a code space but no classes yet (``refit_head`` fills it)."""
        r = basis.shape[1]
        return cls(
            scaler,
            basis,
            np.zeros((0, 0), np.float32),
            torch.zeros(0, r),
            torch.zeros(0),
            torch.zeros(0, r),
            torch.zeros(0),
            torch.tensor([1.0, 0.5]),
        )

    @classmethod
    def build(cls, scaler, basis, class_rows, weight, bias, prototypes, calib_codes) -> "GZSLHead":
        """From a classifier already in code space; ``prototypes`` [K, D] scaled; calib_codes: sample of codes."""
        basis, weight, bias, prototypes, calib_codes = (
            t.detach().cpu().float() for t in (basis, weight, bias, prototypes, calib_codes)
        )
        proto_codes = prototypes @ basis
        proto_sq = (prototypes * prototypes).sum(1)
        calibration = fit_calibration(calib_codes, weight, bias, proto_codes, proto_sq)
        scaler = FeatureScaler(scaler.lo.cpu(), scaler.scale.cpu())
        return cls(scaler, basis, class_rows, weight, bias, proto_codes, proto_sq, calibration)

    # -- scoring ---------------------------------------------------------------------------------
    def encode(self, features: torch.Tensor) -> np.ndarray:
        x = self.scaler(features.float())
        return (x @ self.basis.to(x.device)).cpu().numpy().astype(np.float32, copy=False)

    def new_columns(self, prototypes: torch.Tensor):
        """(weight [m, r], bias [m]) for classes given by their scaled prototypes [m, D]."""
        a, b = float(self.calibration[0]), float(self.calibration[1])
        w_mean, b_mean, pi_mean, sq_mean = self._centre
        pi = prototypes @ self.basis
        sq = (prototypes * prototypes).sum(1)
        return w_mean + a * (pi - pi_mean), b_mean - b * (sq - sq_mean)

    def score(self, codes: np.ndarray, class_rows: np.ndarray, prototype_fn) -> np.ndarray:
        """[N, K'] logits; known rows from the classifier, new rows from ``prototype_fn(rows) -> [m, D]``."""
        codes = np.asarray(codes, dtype=np.float32)
        cols = match_rows(self._keys, class_rows)
        known = cols >= 0
        k = int(known.sum())
        new = None
        if k < len(cols):
            w, b = self.drawn_columns(np.asarray(class_rows)[~known], prototype_fn)
            new = codes @ w.T + b
        if k == 0:
            return new if new is not None else np.zeros((codes.shape[0], 0), np.float32)
        logits = self._known_logits(codes)
        if k == len(cols) and np.array_equal(cols, np.arange(len(logits[0]))):
            return logits.copy()
        out = np.empty((codes.shape[0], len(cols)), dtype=np.float32)
        if known[:k].all() and np.array_equal(cols[:k], np.arange(k)):  # trained classes first, in order:
            out[:, :k] = logits[:, :k]  # the common case, as block copies (2x faster than masked gathers)
            if new is not None:
                out[:, k:] = new
            return out
        out[:, known] = logits[:, cols[known]]
        if new is not None:
            out[:, ~known] = new
        return out

    def drawn_columns(self, rows: np.ndarray, prototype_fn) -> tuple[np.ndarray, np.ndarray]:
        """(weight [m, r], bias [m]) as numpy for rows the classifier does not know; single rows are cached
        (the prototype costs a flow inversion, ~2 ms, and a slider move asks for its row twice)."""
        if len(rows) != 1:
            w, b = self.new_columns(prototype_fn(rows))
            return w.numpy(), b.numpy()
        key = row_keys(rows)[0]
        hit = self._drawn.get(key)
        if hit is None:
            w, b = self.new_columns(prototype_fn(rows))
            hit = self._drawn[key] = (w.numpy(), b.numpy())
            while len(self._drawn) > DRAWN_CACHE:
                self._drawn.pop(next(iter(self._drawn)))
        return hit

    def column_rows(self, codes: np.ndarray, rows: np.ndarray, class_row, prototype_fn) -> np.ndarray:
        """Scores of the codes at ``rows`` for one class row (the gallery's page)."""
        return self.score(codes[rows], np.atleast_2d(np.asarray(class_row, np.float32)), prototype_fn)[:, 0]

    def prepare_live(self, codes: np.ndarray) -> None:
        """The codes' principal directions and projections (``CodeProjection``): ~36 ms of CPU for 10,000 codes
        while a model trains, ~120 ms for 100,000, which the first bounded slider move on them paid."""
        self._projection.of(codes)

    def column_change(self, codes: np.ndarray, old_row, new_row, prototype_fn) -> ColumnChange | None:
        """How far a drawn class's column (c . w + b) can move for each image c when its row changes.

        ``live_page.CodeProjection`` bounds it; None for a trained class's row (its column is the classifier's).
        """
        rows = np.ascontiguousarray(np.stack([old_row, new_row]), dtype=np.float32)
        if (match_rows(self._keys, rows) >= 0).any():
            return None
        (w0, b0), (w1, b1) = (self.drawn_columns(rows[i : i + 1], prototype_fn) for i in (0, 1))
        return self._projection.change(codes, w1[0] - w0[0], float(b1[0]) - float(b0[0]))

    def _known_logits(self, codes: np.ndarray) -> np.ndarray:
        """Logits of every known class, cached for the last codes array (the app scores one array again and again)."""
        cache = self._cache
        if cache is not None and cache[0] is codes:
            return cache[1]
        logits = codes @ self.weight.numpy().T + self.bias.numpy()
        self._cache = (codes, logits)
        return logits

    # -- persistence -------------------------------------------------------------------------------
    def state(self, prefix: str = "head.") -> dict:
        return {
            **self.scaler.state(prefix + "scaler."),
            f"{prefix}basis": self.basis.clone(),
            f"{prefix}class_rows": torch.from_numpy(self.class_rows.copy()),
            f"{prefix}weight": self.weight.clone(),
            f"{prefix}bias": self.bias.clone(),
            f"{prefix}proto_codes": self.proto_codes.clone(),
            f"{prefix}proto_sq": self.proto_sq.clone(),
            f"{prefix}calibration": self.calibration.clone(),
        }

    @classmethod
    def from_state(cls, state: dict, prefix: str = "head.") -> "GZSLHead | None":
        if f"{prefix}weight" not in state:
            return None
        t = {
            k: torch.as_tensor(state[prefix + k]).float()
            for k in ("basis", "weight", "bias", "proto_codes", "proto_sq", "calibration")
        }
        rows = torch.as_tensor(state[prefix + "class_rows"]).float().numpy()
        return cls(
            FeatureScaler.from_state(state, prefix + "scaler."),
            t["basis"],
            rows,
            t["weight"],
            t["bias"],
            t["proto_codes"],
            t["proto_sq"],
            t["calibration"],
        )


def fit_head(
    scaler, x, y, class_rows, prototypes, real_mean, directions, hp: dict, generator, check=None, more_draws=()
) -> GZSLHead:
    """The final GZSL softmax, trained in code space.

    ``x`` scaled features (real seen + synthetic unseen), ``y`` positions in
    ``class_rows``; ``prototypes`` [K, D] scaled. The code basis spans the
    prototypes, the real feature mean and ``directions`` (top principal
    directions of the real features; an identity matrix keeps the full space).
    hp: cls_epochs, cls_batch, cls_lr, cls_beta1 and optionally cls_weight_decay (default 0).
    ``more_draws``: further (x, y) training sets, each giving one more softmax in the same basis (see
    ``refit_head``); drawn lazily, one after another, after the first softmax is trained.
    """
    basis = code_basis([prototypes, real_mean.reshape(1, -1), directions])
    more = ((x_k @ basis, y_k) for x_k, y_k in more_draws)
    return refit_head(GZSLHead.empty(scaler, basis), x @ basis, y, class_rows, prototypes, hp, generator, check, more)


def refit_head(
    head: GZSLHead,
    codes: torch.Tensor,
    y: torch.Tensor,
    class_rows,
    prototypes,
    hp: dict,
    generator,
    check=None,
    more_draws=(),
) -> GZSLHead:
    """A new classifier for ``class_rows``, trained in the head's code space (cached codes stay valid).

    ``more_draws``: further (codes, y) sets (another synthetic draw each); one softmax is trained per set, with
    the same generator continued, and the head keeps their mean weight and bias. Mean logits of linear
    classifiers in one basis are exactly the logits of that one classifier, so K draws cost K fits here and
    nothing when scoring; they average away the draw's noise (docs/history/gsmflow.md, session 10).
    No ``more_draws``: one softmax, bit for bit the single-draw head.
    """
    weight, bias = averaged_softmax(itertools.chain([(codes, y)], more_draws), len(class_rows), hp, generator, check)
    sample = torch.randperm(len(codes), generator=generator)[:2048]
    return GZSLHead.build(head.scaler, head.basis, class_rows, weight, bias, prototypes, codes[sample])
