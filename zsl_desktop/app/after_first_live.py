"""What a new model's first live scores unlock: every image's scores and the test-split evaluation.

Why they wait: both are seconds of work at 100,000 images (the evaluation encodes every test image);
asked for at once, they ran before or beside the selected image's predictions and delayed them. The
evaluation is then shown in a pause of the user's scrolling: the first report builds the Training
plots (pyqtgraph).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from zsl_desktop.app.activity import when_quiet
from zsl_desktop.engine.session.results import Evaluated


class AfterFirstLive(QObject):
    """Holds back the controller's slow follow-ups of a new model until its first live scores are in."""

    def __init__(self, controller, bridge, training, parent=None):
        super().__init__(parent)
        self.controller, self.bridge, self.training = controller, bridge, training
        self.armed = False  # a model became active and its first live scores are not in yet
        self.evaluation_due: Evaluated | None = None  # the evaluation to show once the user pauses
        bridge.evaluated.connect(self.on_evaluated)

    def reset(self) -> None:
        """The model changed: nothing of the previous one's is asked for or shown any more."""
        self.armed = False
        self.evaluation_due = None

    def arm(self) -> None:
        self.armed = True

    def first_live_in(self) -> None:
        """The first live scores (or their failure) arrived: ask for the slow work, once."""
        if not self.armed:
            return
        self.armed = False
        self.controller.request_all_scores()
        self.bridge.request_evaluation()

    @Slot(object)
    def on_evaluated(self, evaluated: Evaluated) -> None:
        self.evaluation_due = evaluated
        when_quiet(self, self.show_evaluation)

    def show_evaluation(self) -> None:
        evaluated, self.evaluation_due = self.evaluation_due, None
        if evaluated is None:  # shown already, or its model replaced meanwhile
            return
        model = self.controller.model
        source = model.source if model is not None else ""
        self.training.show_report(evaluated.report, f"Test-split evaluation of the active model ({source})")
