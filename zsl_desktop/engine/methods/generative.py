"""Shared pieces of the generative methods (GSMFlow, IPCE).

- ``FeatureScaler``: min-max per dimension fitted on the training rows, then
  divided by the largest scaled training value (METHODS.md 1.1), as the
  released generative code does.
- ``fit_softmax``: the final GZSL classifier, a linear softmax (LINEAR_LOGSOFTMAX:
  Xavier-normal weights, zero bias, Adam with beta1 = 0.5, NLL), trained on
  real seen + synthesised unseen features.
- ``GZSLHead``: that classifier packaged for cheap scoring of ANY class matrix.
  Codes are the scaled features projected onto an orthonormal basis Q that
  spans the class prototypes, the feature mean and the top principal
  directions of the real features; the classifier is trained on the codes.
  Why: a score then costs N x r x K instead of N x D x K (r ~ K + 129 against
  D = 1280-2048), training the classifier is D / r times cheaper, and a
  classifier refit for a new class happens in the same space, so codes the
  app has cached stay valid.
  A row that is not one of the trained classes (a class the user drew) gets
  a prototype column: w = mean(W) + a (pi - mean(pi)), b = mean(b) - b' (|p|^2 - mean |p|^2),
  p the class prototype in scaled feature space, pi its code; (a, b') are
  fitted by least squares so that the known classes' prototype columns
  reproduce their classifier logits (the calibrated nearest-class-mean rule
  on the classifier's logit scale).
- ``boundary_mining``: GSMFlow-TMM's boundary samples (a relation network, then
  SGD on copies of the training rows that keeps their class relation while
  maximising the entropy of the relations), a training-set augmentation any
  feature generator can use.
- ``nearest_class_mean_accuracy``: how often a synthesised feature is
  closest to the real mean of its own class.

Why one module over 400 lines: the pieces GSMFlow and CE-GZSL/IPCE share (scaling, the GZSL head, boundary
mining, relation net), each small and tested on its own; splitting them would scatter one vocabulary.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from zsl_desktop.engine.live_page import CodeProjection, ColumnChange
from zsl_desktop.engine.sharding import Shards

DRAWN_CACHE = 16  # drawn classes' columns kept per head


def generator_for(*keys: int) -> torch.Generator:
    """A torch generator seeded from several integers (seed, epoch, purpose), reproducible on resume."""
    seed = int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0])
    return torch.Generator().manual_seed(seed)


class FeatureScaler:
    """x -> (x - lo) / scale, scale = (hi - lo) * max of the min-max-scaled training rows."""

    def __init__(self, lo: torch.Tensor, scale: torch.Tensor):
        self.lo, self.scale = lo.float(), scale.float()

    @classmethod
    def fit(cls, x: torch.Tensor) -> "FeatureScaler":
        lo, hi = x.min(0).values, x.max(0).values
        span = torch.where(hi - lo > 0, hi - lo, torch.ones_like(hi))  # constant dims: sklearn's scale 1
        top = ((x - lo) / span).max().clamp_min(1e-12)
        return cls(lo, span * top)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.lo.to(x.device)) / self.scale.to(x.device)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.device) + self.lo.to(x.device)

    def state(self, prefix: str) -> dict:
        return {f"{prefix}lo": self.lo.clone(), f"{prefix}scale": self.scale.clone()}

    @classmethod
    def from_state(cls, state: dict, prefix: str) -> "FeatureScaler":
        return cls(torch.as_tensor(state[f"{prefix}lo"]), torch.as_tensor(state[f"{prefix}scale"]))


def fit_softmax(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    epochs: int,
    batch_size: int,
    lr: float,
    beta1: float = 0.5,
    generator: torch.Generator | None = None,
    check=None,
    weight_decay: float = 0.0,
):
    """Linear softmax classifier -> (weight [K, d], bias [K]); ``check`` is called every batch (cancel).

    ``weight_decay``: Adam's L2 term (0, the default, is Adam without it, bit for bit).

    Under torchrun every rank trains the whole classifier (the same one): its steps are so small that
    an all-reduce per step cost more than the step (CUB-sized, 2 gloo ranks: 1.9 CPU s per rank against
    1.7 s for the whole fit alone), so the generative methods shard what feeds it instead.
    """
    n, d = x.shape
    weight = torch.randn(num_classes, d, generator=generator) * math.sqrt(2.0 / (d + num_classes))
    weight = weight.to(x.device).requires_grad_()
    bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, betas=(beta1, 0.999), weight_decay=float(weight_decay))
    batch_size = max(1, int(batch_size))
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=generator).to(x.device)
        for first in range(0, n, batch_size):
            if check is not None:
                check()
            pick = order[first : first + batch_size]
            loss = F.cross_entropy(F.linear(x[pick], weight, bias), y[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return weight.detach(), bias.detach()


def averaged_softmax(draws, num_classes: int, hp: dict, generator, check=None):
    """(weight, bias): the mean of one ``fit_softmax`` per (x, y) draw, trained one after another with the same
    generator continued; a single draw is returned as it is (bit for bit).

    Mean logits of linear classifiers on the same inputs are exactly the logits of their mean classifier, so K
    draws cost K fits and nothing when scoring; they average away the synthetic draw's noise (GSMFlow's and
    CE-GZSL/IPCE's ``classifier_draws``; docs/history/gsmflow.md, session 10). hp: cls_epochs, cls_batch,
    cls_lr, cls_beta1, optionally cls_weight_decay (default 0).
    """
    weights, biases = [], []
    for x, y in draws:
        weight, bias = fit_softmax(
            x,
            y,
            num_classes,
            hp["cls_epochs"],
            hp["cls_batch"],
            hp["cls_lr"],
            hp["cls_beta1"],
            generator,
            check,
            hp.get("cls_weight_decay", 0.0),
        )
        weights.append(weight)
        biases.append(bias)
    if not weights:
        raise ValueError("averaged_softmax needs at least one draw")
    if len(weights) == 1:
        return weights[0], biases[0]
    return torch.stack(weights).mean(0), torch.stack(biases).mean(0)


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


def row_keys(class_rows: np.ndarray) -> list[bytes]:
    return [np.ascontiguousarray(r, dtype=np.float32).tobytes() for r in np.asarray(class_rows)]


def row_table(known: list[bytes]) -> dict:
    """Row bytes -> the columns holding that row, in order."""
    table: dict[bytes, list[int]] = {}
    for i, k in enumerate(known):
        table.setdefault(k, []).append(i)
    return table


class KnownRows(dict):
    """``row_table`` of class rows that also keeps them as one block of bytes, for ``match_rows``' fast path:
    the app's class matrices start with the trained classes in order (a slider move adds one drawn row),
    and one comparison of bytes matches them all (~10x faster than a key per row at 200 classes)."""

    def __init__(self, class_rows: np.ndarray):
        rows = np.ascontiguousarray(class_rows, dtype=np.float32)
        super().__init__(row_table(row_keys(rows)))
        self.count, self.shape, self.block = len(rows), rows.shape[1:], rows.tobytes()

    def prefix(self, class_rows: np.ndarray) -> int:
        """How many leading rows of ``class_rows`` are the known rows in order: all of them or 0."""
        n = self.count
        if n == 0 or len(class_rows) < n or np.shape(class_rows)[1:] != self.shape:
            return 0
        return n if np.ascontiguousarray(class_rows[:n], dtype=np.float32).tobytes() == self.block else 0


def match_rows(known, class_rows: np.ndarray) -> np.ndarray:
    """Column of each row among the known class rows (exact match of the raw values), -1 for new rows.

    ``known``: row keys, a ``row_table`` or ``KnownRows``. Duplicated known rows are matched in
    order, so a matrix equal to the training one maps onto it column by column.
    """
    table = known if isinstance(known, dict) else row_table(known)
    class_rows = np.asarray(class_rows)
    out = np.full(len(class_rows), -1, dtype=np.int64)
    start = table.prefix(class_rows) if isinstance(table, KnownRows) else 0
    out[:start] = np.arange(start)
    used: dict[bytes, int] = {}
    for j, k in enumerate(row_keys(class_rows[start:]), start):
        cols = table.get(k)
        if cols:
            n = used.get(k, len(cols) if start else 0)  # after the whole known prefix, each key's columns are used
            out[j] = cols[min(n, len(cols) - 1)]
            used[k] = n + 1
    return out


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


# -- boundary sample mining (GSMFlow TMM) --------------------------------------------------------
class RelationNet(nn.Module):
    """R(x, a) = sigmoid(w2 . ReLU(W_x x~ + W_a a~ + b1) + b2): RelationNetV2 with its first layer split.

    x~ and a~ are the inputs standardised per dimension (statistics of the training
    rows and of the class rows, set by ``standardize``), and each half of the first
    layer has nn.Linear's init for its own fan-in. Both are reparametrisations of
    the released network (the layer absorbs any affine map of its input); why:
    on raw [0, 1] features the released setup sat at the constant answer 1/C for
    hundreds of steps here (the class term was ~10x smaller than the image term),
    standardised it learns in ~30 epochs.
    """

    def __init__(self, dim_x: int, dim_a: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__()
        self.fc_x = nn.Linear(dim_x, hidden)
        self.fc_a = nn.Linear(dim_a, hidden, bias=False)
        self.fc_out = nn.Linear(hidden, 1)
        for name, size in (("x_mean", dim_x), ("x_scale", dim_x), ("a_mean", dim_a), ("a_scale", dim_a)):
            self.register_buffer(name, torch.zeros(size) if name.endswith("mean") else torch.ones(size))
        with torch.no_grad():
            for layer, fan_in in ((self.fc_x, dim_x), (self.fc_a, dim_a), (self.fc_out, hidden)):
                for p in layer.parameters():
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / math.sqrt(fan_in))

    def standardize(self, x: torch.Tensor, attributes: torch.Tensor) -> None:
        with torch.no_grad():
            for prefix, v in (("x", x), ("a", attributes)):
                getattr(self, f"{prefix}_mean").copy_(v.mean(0))
                getattr(self, f"{prefix}_scale").copy_(v.std(0).clamp_min(1e-6) if len(v) > 1 else 1.0)

    def class_term(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc_a((a - self.a_mean) / self.a_scale)

    def forward(self, x: torch.Tensor, a: torch.Tensor, a_term: torch.Tensor | None = None) -> torch.Tensor:
        """Relations [B, C] of every row with every class row of ``a``."""
        a_term = self.class_term(a) if a_term is None else a_term
        h = F.relu(self.fc_x((x - self.x_mean) / self.x_scale)[:, None, :] + a_term[None])
        return torch.sigmoid(self.fc_out(h).squeeze(-1))


def batch_targets(y: torch.Tensor):
    """(distinct classes, one-hot [B, C] over them) for one batch: the relation net's target."""
    classes, position = torch.unique(y, return_inverse=True)
    return classes, F.one_hot(position, len(classes)).float()


def softmax_entropy(r: torch.Tensor) -> torch.Tensor:
    """Mean over rows of H(softmax(r)) (the released ``entropy_loss``, on the sigmoid relations)."""
    return -(F.softmax(r, 1) * F.log_softmax(r, 1)).sum(1).mean()


def mining_loss(r: torch.Tensor, onehot: torch.Tensor, entropy_weight: float, mse_weight: float = 1.0):
    """MSE(R(x'), onehot) - entropy_weight * H(softmax(R(x'))): keep the class, move toward the boundary."""
    return mse_weight * F.mse_loss(r, onehot) - entropy_weight * softmax_entropy(r)


def train_relation(
    net, x, y, attributes, epochs, batch_size, lr, weight_decay, generator, check, shards: Shards | None = None
) -> list:
    """MSE against one-hot relations over the classes of each batch; returns the loss per epoch.

    ``shards``: under torchrun each rank computes its part of every batch (the targets stay the whole batch's).
    """
    shards = shards or Shards()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(int(epochs)):
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for first in range(0, len(x), batch_size):
            check()
            batch = order[first : first + batch_size]
            classes, onehot = batch_targets(y[batch])
            part = shards.part(len(batch))
            loss = F.mse_loss(net(x[part.of(batch)], attributes[classes]), part.of(onehot))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            (value,) = shards.average_gradients(optimizer, part.share, loss)
            optimizer.step()
            total += value * len(batch)
        losses.append(total / len(x))
    return losses


def mine_boundary_samples(
    net, x, y, attributes, batch_size, steps, lr, entropy_weight, mse_weight, generator, check, shards=None
) -> torch.Tensor:
    """One pass: every row x becomes x' after ``steps`` plain SGD steps on ``mining_loss`` (row order kept).

    Each row's steps depend on its batch only through the batch's classes and size, so under
    torchrun each rank mines its part of every batch (its loss weighted by its share, which
    gives every row the step of the whole batch) and the mined rows are summed across ranks.
    """
    shards = shards or Shards()
    mined = torch.zeros_like(x) if shards.active else torch.empty_like(x)
    order = torch.randperm(len(x), generator=generator)
    for first in range(0, len(x), batch_size):
        check()
        batch = order[first : first + batch_size]
        classes, onehot = batch_targets(y[batch])
        part = shards.owns(len(batch))
        pick, share = batch[part], len(batch[part]) / len(batch)
        if not len(pick):
            continue
        with torch.no_grad():
            a_term = net.class_term(attributes[classes])
        xm = x[pick].clone()
        for _ in range(int(steps)):
            xm.requires_grad_(True)
            loss = mining_loss(net(xm, None, a_term), onehot[part], entropy_weight, mse_weight)
            if share != 1.0:
                loss = loss * share
            (grad,) = torch.autograd.grad(loss, xm)
            xm = (xm - lr * grad).detach()
        mined[pick] = xm
    return shards.gather_rows(mined)


def boundary_mining(x, y, attributes, hp: dict, generators, check, shards: Shards | None = None) -> torch.Tensor:
    """Train a relation network on (x, y), then mine one boundary sample per row (same order as x).

    hp: relation_hidden, relation_epochs, relation_batch, relation_lr, relation_wd,
    mining_steps, mining_lr, entropy_weight, mse_weight; ``generators``: three torch
    generators (initialisation, relation batches, mining batches).
    """
    init, batches, mining = generators
    net = RelationNet(x.shape[1], attributes.shape[1], int(hp["relation_hidden"]), init).to(x.device)
    net.standardize(x, attributes)
    train_relation(
        net,
        x,
        y,
        attributes,
        hp["relation_epochs"],
        int(hp["relation_batch"]),
        hp["relation_lr"],
        hp["relation_wd"],
        batches,
        check,
        shards,
    )
    net.eval()
    return mine_boundary_samples(
        net,
        x,
        y,
        attributes,
        int(hp["relation_batch"]),
        hp["mining_steps"],
        hp["mining_lr"],
        hp["entropy_weight"],
        hp["mse_weight"],
        mining,
        check,
        shards,
    )


def nearest_class_mean_accuracy(synth, synth_labels, real, real_labels, per_class: bool = True) -> float:
    """Share of synthesised rows whose nearest real class mean (Euclidean) is their own class's.

    Only classes present in ``real_labels`` compete; ``per_class`` averages per class (like ZSL T1).
    """
    synth, real = np.asarray(synth, np.float64), np.asarray(real, np.float64)
    synth_labels, real_labels = np.asarray(synth_labels), np.asarray(real_labels)
    classes = np.unique(real_labels)
    means = np.stack([real[real_labels == c].mean(0) for c in classes])
    d = (synth * synth).sum(1, keepdims=True) - 2 * synth @ means.T + (means * means).sum(1)
    predicted = classes[np.argmin(d, axis=1)]
    hit = predicted == synth_labels
    if not per_class:
        return float(hit.mean())
    return float(np.mean([hit[synth_labels == c].mean() for c in np.unique(synth_labels)]))
