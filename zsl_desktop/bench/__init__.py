"""Measurement-only code, apart from what users run: ``zsl-desktop bench`` (``runner.py``), the app's
frame-time and memory measurements run in child processes (``ui.py`` starts them, ``ui_children.py`` is their
code; ``memory.py``, ``perf.py``) and the
scripted screenshot tour for the README (``screenshot.py``: ``python -m zsl_desktop.bench.screenshot OUT``).

The app and the engine never import this package (import-linter states it); the app's own
``--screenshot PNG`` option is a user feature and lives in ``app/main.py``.
"""
