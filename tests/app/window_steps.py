"""Steps the window tests share: select an image and wait until it is shown; the first unseen test image."""


def select_item(window, qtbot, item):
    """Select dataset image ``item`` through the controller and wait until the image view shows it."""
    window.controller.select(item)
    qtbot.waitUntil(lambda: window.image_view.canvas.has_image and window.image_view.item == item, timeout=10000)


def first_unseen(dataset):
    """The first test image of an unseen class."""
    return int(dataset.splits["test_unseen"][0])
