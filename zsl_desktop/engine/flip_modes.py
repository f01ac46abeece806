"""The four flip modes of training and testing (``zsl-desktop train --flips``), without torch.

Why apart from ``features``: the app's flips box names them at start-up, and ``features``
imports torch, which the app's start-up modules must not do before the first predictions (issue #19).
"""

FLIP_MODES = ("none", "train", "tta", "both")  # mirrored images as extra training rows, as a test view, both
