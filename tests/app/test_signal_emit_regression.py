"""PySide6 6.12.0 on CPython 3.11 drops a reference to True on every Signal.emit() and aborts after ~570.

We pin PySide6 below 6.12 on 3.11; this runs thousands of emits (with Python objects, across a
thread, as the bridge does) in a subprocess, so a bad wheel fails the test instead of the whole run.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

    N = 5000

    class Sender(QObject):
        payload = Signal(object)
        flag = Signal(bool)

    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.count = 0

        @Slot(object)
        def on_payload(self, value):
            self.count += 1

        @Slot(bool)
        def on_flag(self, value):
            self.count += 1

    class Worker(QThread):
        payload = Signal(object)

        def run(self):
            for i in range(N):
                self.payload.emit({"i": i, "ok": True, "values": [1.0, 2.0]})

    app = QCoreApplication([])
    sender, receiver = Sender(), Receiver()
    sender.payload.connect(receiver.on_payload)
    sender.flag.connect(receiver.on_flag)
    for i in range(N):
        sender.payload.emit(("step", i, True, None))
        sender.flag.emit(i % 2 == 0)
    worker = Worker()
    worker.payload.connect(receiver.on_payload)
    worker.start()
    worker.wait()
    app.processEvents()
    assert receiver.count == 3 * N, receiver.count
    print("emitted", receiver.count)
""")


def test_thousands_of_emits_do_not_abort():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-2000:]}"
    assert "emitted 15000" in result.stdout
