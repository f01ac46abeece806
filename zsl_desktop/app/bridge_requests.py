"""The bridge's short commands: which engine call each request runs, on which runner, at which priority.

Why apart from ``bridge``: the bridge is the thread machinery (runners, request ids, stale answers dropped,
shutdown); this is the list of what the panels can ask the engine for without a long job, each one line over
the session. ``ShortRequests`` is a mixin of ``bridge.EngineBridge`` and expects from it ``generation``,
``_rid``, ``_submit(kind, fn, priority, slow)`` and ``_submit_to_session(kind, command, priority, slow)``;
each request's answer arrives on the bridge's signal of its kind.
"""

from __future__ import annotations

from zsl_desktop.engine.cub_species import species_offer
from zsl_desktop.engine.session.previews import load_image
from zsl_desktop.engine.session.refining import refine_draft
from zsl_desktop.engine.session.results import LiveRequest


class ShortRequests:
    """``request_*``, ``save_checkpoint`` and ``add_loose``: each returns its request id (-1 once shut down)."""

    def request_live(self, request: LiveRequest) -> int:
        """The gallery's page and the selected image first (a ``final=False`` LiveScores), then the whole ranking;
        a newer move stops the whole ranking of an older one (engine/live_page.py)."""
        return self._submit_to_session(
            "live", lambda s, t: s.live_scores(request, on_page=t.partial, stale=t.stale), priority=3
        )

    def request_refine(self, request) -> int:
        """Refine the edited class from marked images (a RefineRequest); the latest request wins.

        On the slow runner: with CE-GZSL or IPCE five marks take seconds, which slider moves must not wait for.
        """
        return self._submit_to_session("refine", lambda s, t: refine_draft(s, request), priority=3, slow=True)

    def request_draft_cluster(self, values, place) -> int:
        gen = self.generation
        return self._submit_to_session("draft", lambda s, t: s.draft_cluster(values, place, gen), priority=2)

    def request_all_scores(self, classes, gamma: float | None = None) -> int:
        """Every item's scores (and, with ``gamma``, the gallery's predictions at it: worked out here, not on the GUI)."""
        gen = self.generation
        return self._submit_to_session("all", lambda s, t: s.all_scores(classes, gen, gamma), priority=1)

    def request_explain(self, item: int) -> int:
        gen = self.generation
        return self._submit_to_session("explain", lambda s, t: s.explain(item, gen), priority=2)

    def request_image(self, item: int, path) -> int:
        gen = self.generation
        return self._submit("image", lambda t: load_image(path, item, gen), priority=2)

    def request_projection(
        self, method: str = "pca", cap: int | None = None, seed: int = 0, space: str = "features", synthesize: int = 0
    ) -> int:
        return self._submit_to_session(
            "projection", lambda s, t: s.project(method, cap, seed, t, space, synthesize), slow=True
        )

    def request_evaluation(self, gamma: float | None = None) -> int:
        gen = self.generation
        return self._submit_to_session("evaluate", lambda s, t: s.evaluated(gamma, gen), priority=1, slow=True)

    def request_species(self, attribute_names) -> int:
        """The CUB species to offer in the class editor's "Start from" for a dataset on ``attribute_names``.

        On the slow runner, off the GUI thread: reading their CSV froze the window for 0.2-0.5 s as a dataset
        opened (opening14); no session needed (a shipped file), so it runs before the model is in."""
        names = tuple(attribute_names)
        return self._submit("species", lambda t: species_offer(names), priority=2, slow=True)

    def save_checkpoint(self, path) -> int:
        return self._submit_to_session("save", lambda s, t: s.save_model(path), priority=1)

    def add_loose(self, paths) -> int:
        """Find the images among ``paths`` (folders too) and extract their features, on the worker.

        Each call is its own request kind, so no batch of photos is ever dropped as stale.
        """
        gen = self.generation
        paths = [str(p) for p in paths]

        def still_wanted() -> bool:  # read from the worker: a plain int, no Qt call
            return self.generation == gen

        return self._submit_to_session(
            f"loose-{self._rid + 1}", lambda s, t: s.add_photos(paths, still_wanted, gen), priority=2, slow=True
        )
