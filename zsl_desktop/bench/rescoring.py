"""``bench --only rescore`` (and ``scale``'s first rows): the app's live job timed for each method."""

from __future__ import annotations

import time

from zsl_desktop.bench.rows import Row, percentile_ms, report_rows
from zsl_desktop.bench.sizes import Sizes


def bench_rescoring(dataset, sizes: Sizes, methods=None, report=None, real_cub: bool = True) -> list[Row]:
    """A user class edited with a slider -> its scores for every image, and the selected image's scores.

    This times the app's own live job (``Session.live_scores``, ``live_edits``): the gallery's first
    PAGE_ROWS rows of the ranking and the selected image's row over every class until they are final
    (the target: what the user sees), and until every image's score is final.
    """
    from zsl_desktop.bench.live_edits import PAGE_ROWS, LiveEdits, live_subject
    from zsl_desktop.engine.methods import method_names

    rows = []
    for name in methods or method_names():
        method, origin, scored_on = live_subject(name, dataset, real_cub)
        edits = LiveEdits(method, scored_on, sizes.rescore_images)
        # A new session's first move has no reference yet (the other classes' scores, a whole column, the codes'
        # caches): one-off set-up, timed apart as the livetrain section does. In the p95 it was 1 of the 5 moves
        # above it: IPCE's p95 then read the slowest other move alone (a max: 6.8 / 10.4 ms in two quiet runs).
        first = edits.timed(edits.next())
        edits.clear()
        live, full = [], []
        for edit in range(sizes.rescore_edits):
            request = edits.next()
            live.append(edits.timed(request))
            if edit < sizes.full_recomputes:  # for comparison: every column recomputed
                start = time.perf_counter()
                method.score(edits.codes, request.classes.matrix)
                full.append(time.perf_counter() - start)
        p95 = percentile_ms(live, 95)
        where = f"({sizes.rescore_images:,} images, {origin}, codes of {edits.origin})"
        page = f"until the first {PAGE_ROWS} ranked and the selected image are final"
        rows.append(Row("rescore", f"{name} p50 {page} {where}", percentile_ms(live, 50), "ms"))
        rows.append(Row("rescore", f"{name} p95 {page}", p95, "ms", "<= 8", p95 <= 8))
        rows.append(Row("rescore", f"{name} p95 CPU time {page}", percentile_ms(edits.cpu, 95), "ms"))
        rows.append(
            Row("rescore", f"{name} p95 until every image's score is final", percentile_ms(edits.whole, 95), "ms")
        )
        rows.append(
            Row("rescore", f"{name} p95 CPU time until every score is final", percentile_ms(edits.whole_cpu, 95), "ms")
        )
        rows.append(Row("rescore", f"{name} a new session's first move (in no p95)", 1000 * first, "ms"))
        measured = 6
        if full:
            rows.append(Row("rescore", f"{name} p50, every column recomputed", percentile_ms(full, 50), "ms"))
            measured += 1
        report_rows(report, rows[-measured:])
    return rows
