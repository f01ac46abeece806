"""Which model predicts a loose photo: the active model (warned when the photo is out of its domain) or the real-bird model.

Why in the session: the rule needs the active model, its dataset's training features and the
photo's pooled feature, all of which the session owns; the app only shows the typed result
(``LiveScores.predicted_by``, ``gamma_offset``, ``out_of_domain``). The rule itself is
``real_birds.use_real_bird_model``: a photo outside the active model's domain and inside the
real-bird model's is scored by the real-bird model against the 200 CUB species (plus the
user's classes drawn on CUB's attributes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from zsl_desktop.engine import out_of_domain as ood
from zsl_desktop.engine.real_birds import TITLE, RealBirdModel, load_real_bird_model, use_real_bird_model
from zsl_desktop.engine.session.class_set import informative_classes
from zsl_desktop.engine.session.results import LiveRequest, LiveScores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoVerdict:
    """Where a loose photo stands: out of the active model's domain; scored by the real-bird model instead."""

    out_of_domain: bool
    use_real_birds: bool
    out_for_real_birds: bool = True


class PhotoRouting:
    """The out-of-domain reference of the active model, the real-bird model (loaded lazily) and each photo's verdict.

    Everything cached here belongs to one active model: a new model (another ``state``) starts over.
    """

    def __init__(self) -> None:
        self._state: object = None  # the ModelState the cached reference and verdicts belong to
        self._reference: ood.DomainReference | None = None
        self._verdicts: dict[str, PhotoVerdict] = {}  # photo path -> verdict
        self._real_birds: list[RealBirdModel | None] = []  # filled at the first loose photo
        self.problem = ""  # why the real-bird model could not be loaded (a damaged install)

    def _follow(self, session, state) -> None:
        """Start over when the active model changed; else keep the reference and the verdicts."""
        if state is self._state:
            return
        self._state, self._verdicts = state, {}
        try:
            self._reference = ood.reference_for_dataset(
                session.dataset, session.features, int(state.header.get("seed", 0) or 0)
            )
        except ValueError:  # no pooled features (or no training rows): no warning rather than a wrong one
            self._reference = None

    def domain_reference(self, session, state) -> ood.DomainReference | None:
        """The active model's out-of-domain reference, from its dataset's trainval features."""
        self._follow(session, state)
        return self._reference

    def real_birds(self, backbone: str, input_size: int) -> RealBirdModel | None:
        """The shipped real-bird model when it is installed and fits the photos' features, else None."""
        if not self._real_birds:
            try:
                self._real_birds.append(load_real_bird_model())
            except (OSError, ValueError) as exc:  # a damaged install: the open dataset's model still predicts
                log.warning("the real-bird model could not be loaded: %s", exc)
                self._real_birds.append(None)
                self.problem = str(exc)
        model = self._real_birds[0]
        if model is None or (model.header.get("backbone"), int(model.header.get("input_size", 0))) != (
            backbone,
            input_size,
        ):
            return None
        return model

    def verdict(self, session, state, path: str, pooled: np.ndarray) -> PhotoVerdict:
        """Is the photo at ``path`` (``pooled`` [1, D]) out of the active model's domain; does the real-bird
        model take it?"""
        reference = self.domain_reference(session, state)
        verdict = self._verdicts.get(path)
        if verdict is not None:
            return verdict
        out_current = bool(reference is not None and reference.is_out(pooled)[0])
        real = self.real_birds(session.backbone, session.input_size) if out_current else None
        out_real = bool(real is None or real.out_of_domain(pooled)[0])
        verdict = PhotoVerdict(out_current, use_real_bird_model(out_current, out_real) and real is not None, out_real)
        self._verdicts[path] = verdict
        return verdict

    def route(self, session, request: LiveRequest, live: LiveScores) -> LiveScores:
        """A loose photo's live scores: the active model's with its domain warning, or the real-bird model's."""
        state = session.active()
        item = session.loose.items[live.item - session.dataset.num_samples]
        pooled = session.loose.rows("pooled", [item])
        verdict = self.verdict(session, state, item.path, pooled)
        real = self.real_birds(session.backbone, session.input_size) if verdict.use_real_birds else None
        if real is None:
            return replace(live, out_of_domain=verdict.out_of_domain)
        user_names, user_matrix = request.real_bird_classes
        if user_matrix is not None:  # as in every class set: a class with no attribute information is left out
            user_names, user_matrix = informative_classes(user_names, user_matrix, np.shape(user_matrix)[-1])
        scores = np.asarray(real.scores(pooled, user_matrix)[0], np.float32)
        names = tuple(real.class_names) + tuple(user_names)
        kinds = tuple(real.kinds) + ("user",) * len(user_names)
        return replace(
            live,
            class_names=names,
            class_kinds=kinds,
            scores=scores,
            predicted_by=TITLE,
            gamma_offset=real.gamma - state.gamma,
            out_of_domain=verdict.out_for_real_birds,
        )
