"""ZSL Desktop: annotation-free zero-shot learning on the desktop."""

__version__ = "0.1.0"
