"""GSMFlow's final classifier: its training sets (real seen rows, synthetic rows from the flow), its lazy build
after an epoch, and ``refit_classifier`` for the rows the user drew.

Why apart from ``method.py``: what feeds the softmax (``n_synth``, ``seen_synth``, ``cls_real_repeat``,
``synth_temperature``, the synthetic pool of ``synth_from``/``synth_last``, the earlier final models' rows,
``classifier_draws``) is one job, changed when the classifier's recipe is screened; the flow's training stays in
``method.py``. ``GSMFlowClassifier`` is a mixin of ``method.GSMFlow`` and expects from it ``_hp``, ``_flow``,
``_gsm``, ``_scaler``, ``_attributes``, ``_prototype_fn``, ``_head``, ``_pending_head``, ``_pool``,
``_member_rows`` and ``_own_rows``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..generative import generator_for
from ..gzsl_head import GZSLHead, fit_head, refit_head
from .seeding import HEAD

HEAD_HPARAMS = ("cls_epochs", "cls_batch", "cls_lr", "cls_beta1", "cls_weight_decay")


class GSMFlowClassifier:
    """The GZSL softmax on real seen and synthetic rows, in code space (``gzsl_head.GZSLHead``)."""

    def _pool_start(self, epochs: int) -> int:
        """The first epoch whose flow adds synthetic rows to the classifier's pool; 0: no pool (the last flow
        alone). ``synth_from`` E gives E; else ``synth_last`` k the phase's last k epochs (``epochs`` - k + 1)."""
        first, last = int(self._hp("synth_from")), int(self._hp("synth_last"))
        if first > 0:
            return first
        return max(1, epochs - last + 1) if last > 0 else 0

    @torch.no_grad()
    def _add_to_pool(self, unseen_attributes: torch.Tensor, g: torch.Generator) -> None:
        """Keep n_synth rows per unseen class split evenly over the flows of the epochs so far (``synth_from``).

        The w-th epoch in the pool adds about n_synth / w rows per class and every earlier epoch keeps
        its first n_synth / w (the counts only shrink, so the pool never grows past n_synth rows a class).
        Under torchrun every rank draws the same pool (same generator), so it is not split.
        """
        n, w = self._hp("n_synth"), len(self._pool) + 1
        counts = [n // w + (1 if i < n % w else 0) for i in range(w)]
        self._pool = [part[:, :c] for part, c in zip(self._pool, counts)]
        fresh = self._classifier_rows(unseen_attributes, counts[-1], g)
        self._pool.append(fresh.reshape(len(unseen_attributes), counts[-1], -1).half())

    @torch.no_grad()
    def _fit_classifier(self, xs, y, raw, attributes, unseen, directions, g, check, shards) -> GZSLHead:
        """Synthesise unseen features; train the GZSL softmax over all classes on real seen + synthetic unseen
        (``classifier_draws`` K: K softmaxes on K draws, averaged into one)."""
        x, labels = self._classifier_set(xs, y, attributes, unseen, g, shards, keep=True)
        more = (self._classifier_set(xs, y, attributes, unseen, g, shards) for _ in range(self._draws() - 1))
        prototypes = self._flow.prototypes(self._gsm(attributes))
        hp = {k: self._hp(k) for k in HEAD_HPARAMS}
        with torch.enable_grad():
            return fit_head(self._scaler, x, labels, raw, prototypes, xs.mean(0), directions, hp, g, check, more)

    @torch.no_grad()
    def _classifier_set(self, xs, y, attributes, unseen, g, shards, keep: bool = False):
        """One training set of the final classifier: real seen rows, synthetic unseen rows (the pool's when
        there is one, else fresh from the last flow), the earlier final flows' rows and ``seen_synth`` rows.
        ``keep``: remember its unseen rows (``_own_rows``) for a later final model (``adopt_members``)."""
        n_synth = self._hp("n_synth")
        if self._pool:  # class-major like ``sample``: every class's rows from every pooled epoch
            synth = torch.cat(self._pool, 1).float().reshape(-1, xs.shape[1])
        else:
            # under torchrun the rows are split over the ranks
            synth = self._classifier_rows(attributes[unseen], n_synth, g, shards)
        if keep:
            self._own_rows = synth.detach().reshape(len(unseen), n_synth, -1).half()
        if self._member_rows is not None:  # final_models: the earlier final flows' rows, class by class
            synth = torch.cat((synth.reshape(len(unseen), n_synth, -1), self._member_rows.to(synth).float()), 1)
            n_synth, synth = synth.shape[1], synth.reshape(-1, xs.shape[1])
        repeat = self._real_repeat()
        x = torch.cat((xs.repeat(repeat, 1), synth))
        labels = torch.cat((y.repeat(repeat), unseen.repeat_interleave(n_synth)))
        return self._with_seen_synth(x, labels, attributes, torch.unique(y), g, shards)

    def _draws(self) -> int:
        """``classifier_draws``: how many softmaxes, each on its own synthetic draw, the final classifier averages."""
        return max(1, int(self._hp("classifier_draws")))

    def _real_repeat(self) -> int:
        """``cls_real_repeat``: how many times each real seen row enters the final classifier's training set."""
        return max(1, int(self._hp("cls_real_repeat")))

    @torch.no_grad()
    def _classifier_rows(self, attributes, per_class: int, g, shards=None) -> torch.Tensor:
        """``per_class`` flow samples per class row for the final classifier, at ``synth_temperature``
        (``synthesize`` and the prototypes keep temperature 1)."""
        temperature = self._hp("synth_temperature")
        return self._flow.sample(self._gsm(attributes), per_class, g, shards=shards, temperature=temperature)

    @torch.no_grad()
    def _with_seen_synth(self, x, labels, attributes, seen, g, shards=None):
        """Rows plus ``seen_synth`` synthetic rows per class in ``seen`` (drawn after every other row)."""
        per_class = int(self._hp("seen_synth"))
        if per_class <= 0 or len(seen) == 0:
            return x, labels
        extra = self._classifier_rows(attributes[seen], per_class, g, shards)
        return torch.cat((x, extra.to(x))), torch.cat((labels, seen.to(labels.device).repeat_interleave(per_class)))

    def _require_head(self) -> GZSLHead:
        if self._head is None and self._pending_head is not None:
            with torch.inference_mode(False):  # kept for later training: no inference tensors in it
                self._head = self._fit_classifier(*self._pending_head)
            self._pending_head = None
        if self._head is None:
            raise ValueError("gsmflow: the model is not trained yet (no classifier)")
        return self._head

    @torch.no_grad()
    def refit_classifier(
        self, class_attributes: np.ndarray, seen_features=None, seen_labels=None, seed: int = 0, check=None
    ) -> None:
        """Retrain the softmax for exactly these class rows, then make ``score`` use it (see module docstring).

        ``seen_features`` [M, D] (feature-store space) with ``seen_labels`` [M] (row positions in
        ``class_attributes``) supply real features; every row without them, seen or not, gets
        ``n_synth`` synthesised features. Codes from ``encode`` remain valid.
        """
        head = self._require_head()
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        g = generator_for(int(seed), 0, HEAD)
        real_codes, real_labels = torch.zeros(0, head.basis.shape[1]), torch.zeros(0, dtype=torch.int64)
        covered = np.zeros(len(rows), dtype=bool)
        if seen_features is not None:
            seen_labels = np.asarray(seen_labels, dtype=np.int64)
            real_codes = torch.from_numpy(head.encode(torch.as_tensor(seen_features, dtype=torch.float32)))
            real_codes = real_codes.repeat(self._real_repeat(), 1)  # as in training: cls_real_repeat copies
            real_labels = torch.from_numpy(seen_labels).repeat(self._real_repeat())
            covered[np.unique(seen_labels)] = True

        def draw():  # one training set: the real codes, fresh synthetic ones for the other rows
            codes, labels = [real_codes], [real_labels]
            rest, n_synth = np.nonzero(~covered)[0], self._hp("n_synth")
            if len(rest):
                synth = self._classifier_rows(self._attributes(rows[rest]), n_synth, g)
                codes.append(synth.cpu() @ head.basis)
                labels.append(torch.from_numpy(rest).repeat_interleave(n_synth))
            real_rows = torch.as_tensor(np.nonzero(covered)[0], dtype=torch.int64)
            if len(real_rows) and int(self._hp("seen_synth")) > 0:  # as in training: synthetic rows beside real ones
                empty, none = torch.zeros(0, self._flow.dim), torch.zeros(0, dtype=torch.int64)
                extra, extra_labels = self._with_seen_synth(empty, none, self._attributes(rows), real_rows, g)
                codes.append(extra.cpu() @ head.basis)
                labels.append(extra_labels)
            return torch.cat(codes), torch.cat(labels)

        codes, labels = draw()
        more = (draw() for _ in range(self._draws() - 1))
        hp = {k: self._hp(k) for k in HEAD_HPARAMS}
        with torch.enable_grad():
            new = refit_head(head, codes, labels, rows, self._prototype_fn(rows), hp, g, check, more)
        self._head = new
