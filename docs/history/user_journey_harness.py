"""A real user's journey on the CUB subset (offscreen, through the window and its controller).

Usage: PYTHONPATH=<worktree> python journey.py CHECKPOINT SPECIES [PHASE]
PHASE 1: open CUB, load the model, add a folder of photos, draw SPECIES with the sliders, rank, save, export.
PHASE 2: reopen (a new window, the same home), check the class, the exports, re-rank with the saved class.
PHASE 5: pictures of the window (a photo selected; the photos ranked by the saved class).
PHASE 6: every unseen species drawn from its attribute row in turn; its photos' ranks among the photos.
Photos: the CUB subset's 359 test images copied under neutral names (IMG_0001.jpg...), truth kept aside.
Home: ZSL_DESKTOP_HOME (default /tmp/users13/jhome); outputs under /tmp/users13/journey.
"""

import csv
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("ZSL_DESKTOP_HOME", "/tmp/users13/jhome")
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

CUB = Path("/work/shared/zsl_data/CUB_200_2011")
OUT = Path("/tmp/users13/journey")
PHOTOS = OUT / "photos"
CHECKPOINT, SPECIES = sys.argv[1], sys.argv[2]
PHASE = int(sys.argv[3]) if len(sys.argv) > 3 else 1
T0 = time.perf_counter()
LOG = []


def say(*parts):
    line = f"[{time.perf_counter() - T0:7.1f}s] " + " ".join(str(p) for p in parts)
    print(line, flush=True)
    LOG.append(line)


app = QApplication([])
from zsl_desktop.app import theme  # noqa: E402
from zsl_desktop.app.main_window import MainWindow  # noqa: E402
from zsl_desktop.engine.data import load_dataset  # noqa: E402

theme.apply(app)

# a GUI heartbeat: the longest gap between 20 ms ticks is the longest the window was frozen
gaps = {"last": time.perf_counter(), "max": 0.0, "window": []}


def tick():
    now = time.perf_counter()
    gap = now - gaps["last"]
    gaps["last"] = now
    gaps["max"] = max(gaps["max"], gap)
    gaps["window"].append(gap)


heartbeat = QTimer()
heartbeat.timeout.connect(tick)
heartbeat.start(20)


def reset_gaps():
    gaps["max"], gaps["window"], gaps["last"] = 0.0, [], time.perf_counter()


def stall_summary():
    g = np.array(gaps["window"] or [0.0])
    return f"GUI: longest stall {gaps['max'] * 1000:.0f} ms, p95 tick gap {np.percentile(g, 95) * 1000:.0f} ms"


def wait_until(cond, timeout, what):
    start = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout} s")
    return time.perf_counter() - start


def pump(seconds):
    """Let the window run for ``seconds`` (a time.sleep would freeze it and count as a stall)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def settle(w, timeout=300):
    """Until the ranking answers the editor's current values: no request pending, no new answer for 1.5 s."""
    wait_until(lambda: w.controller.live is not None and w.controller.live.draft_rank is not None, timeout, "ranking")
    while True:
        sent, live = w.controller.live_requests, w.controller.live
        pump(1.5)
        wait_until(lambda: w.bridge.idle() and w.controller.live.final, timeout, "final ranking")
        if w.controller.live_requests == sent and w.controller.live is live:
            return


def make_window():
    w = MainWindow(freeze_gc=True)  # as run_app does: the start-up heap frozen once the dataset is open
    w.resize(1400, 900)
    w.show()
    w.warnings = []
    w.warn = lambda title, text: (w.warnings.append((title, text)), say("WARNING DIALOG:", title, "|", text))
    w.statusBar().messageChanged.connect(lambda text: text and say("status:", text))
    w.finished = []
    w.bridge.long_finished.connect(lambda name, status: w.finished.append((name, status)))
    return w


def open_cub(w):
    start = time.perf_counter()
    w.open_path(str(CUB))
    wait_until(lambda: ("open", "ok") in w.finished or any(n == "open" for n, _ in w.finished), 1800, "open CUB")
    say("opened CUB:", w.finished[-1], f"{time.perf_counter() - start:.1f} s;", "title:", w.windowTitle())
    wait_until(w.bridge.idle, 600, "idle after open")


def load_model(w):
    if w.controller.model is None:
        start = time.perf_counter()
        assert w.load_checkpoint(CHECKPOINT)
        wait_until(lambda: w.controller.model is not None, 600, "model")
        wait_until(w.bridge.idle, 600, "idle after model")
        say(f"model loaded in {time.perf_counter() - start:.1f} s:", w.model_label.text())
    else:
        say("model already there (remembered):", w.model_label.text())
    wait_until(lambda: w.controller.all_scores is not None, 600, "all scores")


def add_photos(w, count):
    start = time.perf_counter()
    n = w.gallery.model.count
    reset_gaps()
    w.add_photos([str(PHOTOS)])
    wait_until(lambda: w.gallery.model.count >= n + count and w.bridge.idle(), 1800, "photos")
    say(f"added {w.gallery.model.count - n} photos in {time.perf_counter() - start:.1f} s;", stall_summary())
    return n


def rank_of_truth(w, first, names, truth, species=None):
    """Ranks (1-based) of the species' own photos among the added photos, by the draft ranking."""
    live = w.controller.live
    scores = np.asarray(live.draft_rank)[first : first + len(names)]
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(order), int)
    rank[order] = np.arange(1, len(order) + 1)
    mine = [i for i, n in enumerate(names) if truth[n] == (species or SPECIES)]
    ranks = sorted(rank[mine].tolist())
    k = len(mine)
    precision_at_k = sum(r <= k for r in ranks) / k
    ap = np.mean([(j + 1) / r for j, r in enumerate(ranks)])
    return ranks, precision_at_k, ap, scores


def main():
    d = load_dataset(CUB)
    species = d.classes.index(SPECIES)
    assert species in set(d.unseen_classes.tolist()), f"{SPECIES} is not unseen"
    truth = {}
    if PHASE == 1:
        shutil.rmtree(OUT, ignore_errors=True)
        PHOTOS.mkdir(parents=True)
        items = [int(i) for i in np.concatenate([d.splits["test_unseen"], d.splits["test_seen"]])]
        random.Random(0).shuffle(items)
        for k, i in enumerate(items):
            name = f"IMG_{k + 1:04d}.jpg"
            shutil.copyfile(d.image_path(i), PHOTOS / name)
            truth[name] = d.classes[int(d.labels[i])]
        (OUT / "truth.json").write_text(json.dumps(truth, indent=1))
        say(f"{len(truth)} photos in {PHOTOS}, {sum(v == SPECIES for v in truth.values())} of {SPECIES}")
    truth = json.loads((OUT / "truth.json").read_text())
    names = sorted(truth)

    w = make_window()
    open_cub(w)
    load_model(w)
    first = add_photos(w, len(names))
    loose_names = [Path(p.path).name if hasattr(p, "path") else None for p in w.controller.loose]
    if loose_names and loose_names[0] is not None:
        names = loose_names
    row = d.class_attributes[species]
    say("store scale:", w.store.scale, "class row range:", float(row.min()), float(row.max()))

    if PHASE == 1:
        w.editor.new_class()
        w.editor.name_edit.setText("Ani from my field guide")
        w.gallery.rank_button.setChecked(True)
        reset_gaps()
        sent = w.controller.live_requests
        start = time.perf_counter()
        for i, v in enumerate(row):  # the user moves each slider to the field guide's value
            w.editor.set_value(i, float(v))
            app.processEvents()
        moved = time.perf_counter() - start
        wait_until(
            lambda: (
                w.controller.live is not None
                and w.controller.live.draft_rank is not None
                and w.controller.live.final
                and np.allclose(w.editor.values(), row, atol=0.51)
            ),
            300,
            "ranking",
        )
        settle(w)
        say(
            f"{len(row)} sliders moved in {moved:.1f} s; {w.controller.live_requests - sent} live requests;",
            f"ranking final {time.perf_counter() - start - moved:.2f} s after the last move;",
            stall_summary(),
        )
        say("editor status:", w.editor.status.text())
        # one more slider move: how long until the ranking follows
        reset_gaps()
        lat = []
        for j in range(5):
            before, sent = w.controller.live, w.controller.live_requests
            w.editor.set_value(j, float(row[j]) + (10 if row[j] < 50 else -10))
            t = time.perf_counter()

            def answered(before=before, sent=sent):  # the move's request sent, answered, nothing pending
                live = w.controller.live
                return w.controller.live_requests > sent and live is not before and live.final and w.bridge.idle()

            wait_until(answered, 60, "live")
            lat.append(time.perf_counter() - t)
            w.editor.undo()
            settle(w)
        say("one slider move -> final ranking, s:", [f"{x:.2f}" for x in lat], stall_summary())
        wait_until(lambda: np.allclose(w.editor.values(), row, atol=0.51) and w.bridge.idle(), 60, "undone")
        settle(w)
        ranks, p_k, ap, scores = rank_of_truth(w, first, names, truth)
        say(
            f"RANK draft: the {len(ranks)} true photos at ranks {ranks} among {len(names)}; P@{len(ranks)}={p_k:.2f} AP={ap:.3f}"
        )
        # the top of the gallery as shown
        top = np.argsort(-scores)[:10]
        say("top 10 photos:", [(names[i], truth[names[i]]) for i in top])
        # compare: the dataset's own class (same attributes) from the predictions of each photo
        np.save(OUT / "draft_scores.npy", scores)
        np.save(OUT / "codes1.npy", np.asarray(w.bridge.session.all_codes(), np.float32))
        say("gamma:", w.predictions.gamma)
        assert w.editor.save(), w.editor.status.text()
        say("saved:", w.editor.status.text(), "| library:", w.store.names())
        w.editor.export_file(OUT / "mine.json")
        w.editor.export_file(OUT / "mine.csv")
        wait_until(
            lambda: (
                w.controller.all_scores is not None and "Ani from my field guide" in w.controller.all_scores.class_names
            ),
            300,
            "all scores with the class",
        )
        from zsl_desktop.app import export

        rows = w.controller.gallery_predictions()
        export.all_predictions_csv(rows, OUT / "all.csv", {"dataset": w.controller.dataset.name})
        photo_rows = [r for r in rows if Path(r[0]).parent == PHOTOS]
        said = sum(r[2] == "Ani from my field guide" for r in photo_rows)
        said_species = sum(
            r[2] in ("Ani from my field guide", SPECIES) for r in photo_rows if truth.get(Path(r[0]).name) == SPECIES
        )
        say(
            f"all-predictions CSV: {len(rows)} rows, {len(photo_rows)} of the photos; {said} photos predicted as the new class;",
            f"{said_species}/{len(ranks)} of the species' photos predicted as it or its dataset twin",
        )
        w.close()
        app.processEvents()
    elif PHASE == 6:  # every unseen species drawn with the sliders from its attribute row, ranked among the photos
        w.gallery.rank_button.setChecked(True)
        table = []
        reset_gaps()
        for c in [int(x) for x in d.unseen_classes]:
            species_name = d.classes[c]
            t = time.perf_counter()
            w.editor.new_class()
            w.editor.name_edit.setText(f"Drawn {species_name}")
            if time.perf_counter() - t > 0.3:
                say("slow new_class/setText:", time.perf_counter() - t)
            start = time.perf_counter()
            for i, v in enumerate(d.class_attributes[c]):
                w.editor.set_value(i, float(v))
                app.processEvents()
            settle(w)
            ranks, p_k, ap, _ = rank_of_truth(w, first, names, truth, species_name)
            chance = len(ranks) / len(names)
            table.append((species_name, len(ranks), p_k, ap, float(np.median(ranks)), chance))
            say(
                f"{species_name}: {len(ranks)} photos, P@k {p_k:.2f}, AP {ap:.3f} (chance {chance:.3f}), median rank {np.median(ranks):.0f}, best {ranks[0]}; {time.perf_counter() - start:.1f} s"
            )
        t = np.array([r[2:] for r in table])
        say(
            f"MEAN over {len(table)} unseen species: P@k {t[:, 0].mean():.3f} ± {t[:, 0].std(ddof=1):.3f}, AP {t[:, 1].mean():.3f} ± {t[:, 1].std(ddof=1):.3f}, median rank {np.median(t[:, 2]):.0f} of {len(names)}, chance AP ~{t[:, 3].mean():.3f}; {stall_summary()}"
        )
        (OUT / f"species_{Path(CHECKPOINT).stem}.json").write_text(json.dumps(table, indent=1))
        w.editor.new_class()
        w.close()
        app.processEvents()
    elif PHASE == 5:  # what the user sees: pictures of the window at each step
        w.controller.select(first)
        wait_until(lambda: w.predictions.raw is not None and w.image_view.canvas.has_image, 120, "photo shown")
        pump(2.0)
        wait_until(w.bridge.idle, 120, "idle")
        w.grab().save(str(OUT / "s1_photo_selected.png"))
        w.editor.edit_class("Ani from my field guide")
        w.gallery.split_filter.setCurrentIndex(w.gallery.split_filter.findData("loose"))
        w.gallery.rank_button.setChecked(True)
        settle(w)
        top = int(w.gallery.model.order[0])
        w.controller.select(top)
        wait_until(lambda: w.image_view.canvas.has_image and w.image_view.item == top, 120, "top shown")
        settle(w)
        say(
            "top photo of the ranking:",
            names[top - first],
            truth[names[top - first]],
            "| predictions top:",
            w.predictions.top_class(),
        )
        w.grab().save(str(OUT / "s2_ranked_by_my_class.png"))
        w.close()
        app.processEvents()
    else:
        say(
            "library after reopening:",
            w.store.names(),
            "| class box has it:",
            w.editor.class_box.findData("Ani from my field guide") >= 0,
        )
        w.editor.edit_class("Ani from my field guide")
        same = np.allclose(w.editor.values(), row, atol=0.51)
        say("saved values equal the field guide's row (slider steps):", same)
        w.gallery.rank_button.setChecked(True)
        settle(w)
        ranks, p_k, ap, scores = rank_of_truth(w, first, names, truth)
        before = np.load(OUT / "draft_scores.npy")
        say(
            f"RANK after reopening: {ranks}; P@k={p_k:.2f} AP={ap:.3f}; scores equal to before: {np.allclose(scores, before, atol=1e-4)}",
            f"max diff {np.abs(scores - before).max():.2e}",
        )
        # the exported class files read back
        from zsl_desktop.engine.class_csv import read_classes_csv

        back = read_classes_csv(OUT / "mine.csv", d.attribute_names, w.store.scale)
        say(
            "CSV export reads back:", [c.name for c in back], np.allclose(back[0].array(), w.editor.values(), atol=1e-4)
        )
        with open(OUT / "all.csv", newline="") as f:
            lines = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
        say("all.csv:", len(lines) - 1, "rows; header", lines[0])
        w.close()
        app.processEvents()
    say("warnings:", getattr(w, "warnings", []))
    (OUT / f"log{PHASE}.txt").write_text("\n".join(LOG))


main()
