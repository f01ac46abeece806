"""The PySide6 desktop app. Everything Qt lives under this package; the engine never imports it."""
