"""When the feature space is drawn, and of what: the projection requests and results of the feature view.

Why apart from the controller: the map waits for a dataset's opening to end (one projection instead of
two: before and after its model), asks for synthesised features of generative models, and places the
drawn class's cluster; it reads the controller's ``model``, ``dataset`` and ``features_ready``.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from zsl_desktop.engine.session.results import DraftCluster

SYNTH_PER_CLASS = 30  # synthesised features per unseen class in the feature view (generative models)


class FeatureMapRequests(QObject):
    """Asks the bridge for the feature view's projections and hands the results to it."""

    def __init__(self, controller, bridge, features, parent=None):
        super().__init__(parent)
        self.controller, self.bridge, self.features = controller, bridge, features
        self.due = False  # a projection asked for while the dataset was opening
        bridge.draft_cluster.connect(self.on_draft_cluster)
        bridge.projection.connect(self.on_projection)
        bridge.projection_partial.connect(features.set_projection)
        features.projection_requested.connect(self.on_projection_requested)

    def request(self) -> None:
        """While a dataset is still opening, wait for its model: one projection instead of two."""
        if self.bridge.long_name == "open":
            self.due = True
        else:
            self.features.request()

    def on_long_finished(self, name: str) -> None:
        """The opening ended: the projection that waited for it."""
        if name == "open" and self.due:
            self.due = False
            c = self.controller
            if c.features_ready and c.dataset is not None:
                self.features.request()

    @Slot(object)
    def on_draft_cluster(self, cluster: DraftCluster) -> None:
        if cluster.placed_on is self.features.draft_map():
            self.features.set_draft_cluster(cluster.points)

    @Slot(object)
    def on_projection(self, projection) -> None:
        self.features.set_projection(projection)
        self.controller.schedule_live()  # a new map: place the drawn class's cluster on it

    @Slot(str, int, str)
    def on_projection_requested(self, method: str, cap: int, space: str) -> None:
        model = self.controller.model
        if space == "codes" and model is None:
            space = "features"
        synthesize = SYNTH_PER_CLASS if model is not None and model.generative and space == "features" else 0
        self.bridge.request_projection(method, cap, space=space, synthesize=synthesize)
