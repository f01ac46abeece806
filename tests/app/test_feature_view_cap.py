"""The feature view maps every image when asked, but never starts a huge map on its own at the next start."""

from zsl_desktop.app.panels.feature_view import FeatureViewPanel
from zsl_desktop.engine.projection import MAX_CAP, PCA_CAP


class _Settings:
    def __init__(self, cap):
        self.cap = cap

    def value(self, key, default, kind):
        return self.cap


def test_the_cap_reaches_every_image_but_a_restored_one_stays_quick(qtbot):
    panel = FeatureViewPanel()
    qtbot.addWidget(panel)
    panel.cap.setValue(100_000)
    assert panel.cap.value() == 100_000 and panel.cap.maximum() == MAX_CAP
    panel.restore_settings(_Settings(100_000))
    assert panel.cap.value() == PCA_CAP  # a t-SNE of 100,000 images is minutes: only on request
    panel.restore_settings(_Settings(3000))
    assert panel.cap.value() == 3000
