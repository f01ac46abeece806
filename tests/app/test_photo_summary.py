"""The line above the image names what it is once: "your photo", not "your photo (photo)" (seen in a user's
journey with real CUB photos); a dataset image keeps its split in brackets."""

from zsl_desktop.app.panels.image_view import ImageViewPanel


def test_a_photo_is_named_once_and_a_dataset_image_keeps_its_split(qtbot):
    panel = ImageViewPanel()
    qtbot.addWidget(panel)
    panel.set_summary("your photo", "loose", "004.Groove_billed_Ani")
    text = panel.subtitle.text()
    assert "your photo" in text and "(photo)" not in text and "Groove billed Ani" in text
    panel.set_summary("004.Groove_billed_Ani", "unseen", "004.Groove_billed_Ani")
    assert "(unseen)" in panel.subtitle.text() and "✓" in panel.subtitle.text()
