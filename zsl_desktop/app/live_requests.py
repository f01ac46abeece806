"""The live path's throttle: a change marks the state dirty, a ~40 ms timer sends one request.

Why apart from the controller: the timer and the request it builds (the selected image, the class set
with the editor's draft, γ, the gallery's shown rows, the drawn class's cluster) are one job; the
controller's state is read through its public attributes (``model``, ``dataset``, ``item``, ``class_set``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Slot

from zsl_desktop.engine.cub_species import cub_attribute_names
from zsl_desktop.engine.session.results import LiveRequest

LIVE_INTERVAL_MS = 40


class LiveRequests(QObject):
    """Sends at most one live request per interval, always of the latest state (trailing edge)."""

    def __init__(self, controller, bridge, store, gallery, predictions, features, parent=None):
        super().__init__(parent)
        self.controller, self.bridge, self.store = controller, bridge, store
        self.gallery, self.predictions, self.features = gallery, predictions, features
        self.sent = 0  # requests sent so far (tests check the throttle with it)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(LIVE_INTERVAL_MS)
        self.timer.timeout.connect(self.send)

    def schedule(self) -> None:
        c = self.controller
        if c.model is None or c.dataset is None:
            return
        if not self.timer.isActive():
            self.timer.start()

    @Slot()
    def send(self) -> None:
        c = self.controller
        if c.model is None or c.dataset is None:
            return
        classes = c.class_set()
        photo = c.item is not None and c.item >= c.dataset.num_samples  # may go to the real-bird model
        real_bird_classes = self.store.classes_for(cub_attribute_names()) if photo else ((), None)
        self.sent += 1
        first_rows, shown = self.gallery.page_request()
        self.bridge.request_live(
            LiveRequest(
                c.item,
                classes,
                self.bridge.generation,
                gamma=self.predictions.gamma,
                real_bird_classes=real_bird_classes,
                first_rows=first_rows,
                shown=shown,
            )
        )
        column = classes.draft_column
        place = self.features.draft_map() if column is not None and c.model.generative else None
        if place is not None:  # the drawn class's own synthetic cluster on the feature view
            self.bridge.request_draft_cluster(classes.matrix[column], place)
        else:
            self.features.set_draft_cluster(None)
