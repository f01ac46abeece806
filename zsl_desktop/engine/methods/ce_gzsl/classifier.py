"""CE-GZSL's and IPCE's final softmax: trained on real seen and synthetic unseen h, calibrated against the
comparator (so a drawn class's column is on the classifier's scale), and ``refit_classifier`` for the rows the
user drew.

Why apart from ``method.py``: what feeds the softmax (``n_synth``, ``classifier_draws``, the members' own draws)
and how its calibration is fitted is one job, changed when the classifier's recipe is screened; the critic and
generator's training stays in ``method.py`` (as ``gsmflow/classifier.py`` is for GSMFlow). ``CEGZSLClassifier`` is
a mixin of ``method._CEGZSLBase`` and expects from it ``_hp``, ``_F``, ``_scaler``, ``_head``, ``_known_cache``,
``_column_cache``, ``_modules``, ``_models``, ``_parts``, ``_embed_scaled``, ``_synthesize_scaled``,
``_attributes``, ``_check_features``, ``_require_head``, ``prepare_class_attributes`` and ``device``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..class_rows import KnownRows
from ..generative import averaged_softmax, generator_for
from .seeding import HEAD


class CEGZSLClassifier:
    """The GZSL softmax over every class row and its calibration (``_head``), fitted and refitted."""

    def _fit_classifier(self, xs, y, raw, attributes, unseen, g, check, draws: int = 0) -> None:
        """Synthesise unseen features and train the softmax on h over every class row (real seen + synthetic;
        ``draws`` K, default ``classifier_draws``: K softmaxes, each on its own synthetic draw, averaged:
        generative.averaged_softmax)."""
        n_synth = self._hp("n_synth")
        h_real, _ = self._embed_scaled(xs)
        labels = torch.cat((y, unseen.repeat_interleave(n_synth)))

        def draw():  # the real h and a fresh synthetic draw (the head generator continued)
            h_synth, _ = self._embed_scaled(self._synthesize_scaled(attributes[unseen], n_synth, g))
            return torch.cat((h_real, h_synth)), labels

        self._train_head(raw, (draw() for _ in range(draws or self._draws())), h_real, g, check)
        for module in self._modules():
            module.train()

    def _draws(self) -> int:
        """``classifier_draws``: how many softmaxes, each on its own synthetic draw, the classifier averages."""
        return max(1, int(self._hp("classifier_draws")))

    def _final_draws(self) -> int:
        """``final_draws``: how many softmaxes a final model's classifier (the one it keeps) averages; 0:
        ``classifier_draws``. Fold models' classifiers, which only draw the validation curves, keep
        ``classifier_draws``, so the choice of epoch and rate does not move and the cost is a few fits a model."""
        return max(0, int(self._hp("final_draws"))) or self._draws()

    def _train_head(self, rows, draws, h_calibration, g, check) -> None:
        """The softmax over ``rows`` from the (h, labels) ``draws`` (``generative.averaged_softmax``: K draws, one
        linear head), then its calibration."""
        hp = {k: self._hp(k) for k in ("cls_epochs", "cls_batch", "cls_lr", "cls_beta1")}
        with torch.enable_grad():
            weight, bias = averaged_softmax(((h.cpu(), y.cpu()) for h, y in draws), len(rows), hp, g, check)
        h_calibration = h_calibration() if callable(h_calibration) else h_calibration
        sample = h_calibration.cpu()[torch.randperm(len(h_calibration), generator=g)[:2048]]
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        calibration = self._fit_calibration(sample, rows, weight, bias)
        # One assignment, so a thread scoring meanwhile sees the old head or the new one, never a mix.
        self._head = {
            "class_rows": rows,
            "keys": KnownRows(rows),
            "weight": weight,
            "bias": bias,
            "calibration": calibration,
        }
        self._known_cache = self._column_cache = None

    @torch.no_grad()
    def _fit_calibration(self, h: torch.Tensor, rows: np.ndarray, weight, bias) -> torch.Tensor:
        """(alpha, beta): classifier logits ~ alpha * comparator score + beta, slope on row-centred values."""
        if len(h) == 0:
            return torch.tensor([1.0, 0.0])
        h = h.cpu()
        z = h @ weight.t() + bias
        u = self._F.image_half(h.to(self._F.fc_h.weight.device))
        f = self._comparator_scores(u, rows).cpu()
        zc, fc = z - z.mean(1, keepdim=True), f - f.mean(1, keepdim=True)
        alpha = float((zc * fc).sum() / (fc * fc).sum().clamp_min(1e-12))
        if not math.isfinite(alpha) or alpha <= 0:
            alpha = 1.0
        beta = float((z - alpha * f).mean())
        return torch.tensor([alpha, beta])

    def _comparator_scores(self, u: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """F(h, a) / tau_cls for image halves u [N, H] (on the comparator's device) and raw class rows."""
        device = self._F.fc_a.weight.device
        a = torch.from_numpy(self.prepare_class_attributes(rows)).to(device)
        return self._F.pair_scores(u.to(device), self._F.class_half(a)) / self._hp("cls_temp")

    @torch.no_grad()
    def refit_classifier(
        self, class_attributes: np.ndarray, seen_features=None, seen_labels=None, seed: int = 0, check=None
    ) -> None:
        """Retrain the softmax for exactly these class rows, then make ``score`` use it.

        ``seen_features`` [M, D] (feature-store space) with ``seen_labels`` [M] (row positions in
        ``class_attributes``) supply real features; every other row gets ``n_synth`` synthesised
        ones. Codes from ``encode`` stay valid (the embedding is unchanged). With members, each model's
        classifier is retrained (K x the time); each model switches when its own is ready.
        """
        for index, model in enumerate(self._models()):
            draw = (int(seed), 0, HEAD) if index == 0 else (int(seed), 0, HEAD, index)  # each model its own draw
            model._refit_own_classifier(class_attributes, seen_features, seen_labels, draw, check, source=self)
        self._parts.clear()

    def _refit_own_classifier(self, class_attributes, seen_features, seen_labels, draw, check, source) -> None:
        """This model's softmax refit; the synthesised features come from ``source``'s generator (the last
        model's: members keep none, members.py), with this model's own random draw (``draw``: the keys of its
        torch generator), so that the members' synthetic features are not the same samples."""
        self._require_head()
        rows = np.atleast_2d(np.asarray(class_attributes, dtype=np.float32))
        g = generator_for(*draw)
        real, real_labels = [], []
        covered = np.zeros(len(rows), dtype=bool)
        h_real = torch.zeros(0, self._hp("embed_size"))
        if seen_features is not None:
            seen_labels = np.asarray(seen_labels, dtype=np.int64)
            h_real, _ = self._embed_scaled(self._scaler(self._check_features(seen_features).to(self.device)))
            real.append(h_real.cpu())
            real_labels.append(torch.from_numpy(seen_labels))
            covered[np.unique(seen_labels)] = True
        rest = np.nonzero(~covered)[0]
        n_synth = self._hp("n_synth")
        first_synth: list[torch.Tensor] = []

        def draw():  # the real h and fresh synthetic h for every other row (classifier_draws: one per softmax)
            hs, labels = list(real), list(real_labels)
            if len(rest):
                h_synth, _ = self._embed_scaled(self._synthesised_by(source, rows[rest], n_synth, g))
                first_synth.append(h_synth.cpu())
                hs.append(h_synth.cpu())
                labels.append(torch.from_numpy(rest).repeat_interleave(n_synth))
            return torch.cat(hs), torch.cat(labels)

        def calibration_rows():  # the real h, else the first draw's synthetic h
            return h_real.cpu() if len(h_real) else first_synth[0]

        self._train_head(rows, (draw() for _ in range(self._draws())), calibration_rows, g, check)

    def _synthesised_by(self, source: "CEGZSLClassifier", rows: np.ndarray, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` features a class row from ``source``'s generator, in this model's scaled space."""
        x = source._synthesize_scaled(source._attributes(rows), n, g)
        return x if source is self else self._scaler(source._scaler.inverse(x).to(self.device))
