"""One slider move's scores: the selected item against every class, every item ranked by the drawn class.

The ranking is the draft's calibrated log-probability against every class (engine/ranking.py); the
session's ranker caches the other classes' part, so a slider move scores one column. With
``request.first_rows`` and ``on_page``, the gallery's page of the ranking is computed first and ``on_page``
hears a LiveScores with ``final=False`` (engine/live_page.py); the whole column follows.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from zsl_desktop.engine.ranking import LiveColumn, calibration
from zsl_desktop.engine.session.chunked_scores import score_in_chunks
from zsl_desktop.engine.session.results import LiveRequest, LiveScores


def live_scores(session, request: LiveRequest, on_page, stale) -> LiveScores | None:
    """``Session.live_scores`` on ``session`` (its active model, codes, ranker and photo routing).

    ``stale()`` True (a newer move is waiting) stops the whole column: None is returned.
    """
    classes, item = request.classes, request.item
    count = len(session.all_codes())
    scores = None
    if item is not None and 0 <= item < count:
        scores = session.scores(classes.matrix, rows=slice(item, item + 1))[0]

    routed: list[LiveScores] = []  # the item's scores, routed once (the page and the whole ranking share them)

    def scored(rank, final: bool = True) -> LiveScores:
        if routed:
            return replace(routed[0], draft_rank=rank, final=final)
        live = LiveScores(
            item if item is not None and scores is not None else -1,
            classes.names,
            classes.kinds,
            scores,
            classes.draft_column,
            rank,
            request.generation,
            final=final,
        )
        if scores is not None and 0 <= live.item - session.dataset.num_samples < len(session.loose.items):
            live = session.photo_routing.route(session, request, live)  # a loose photo: which model predicts it
        routed.append(live)
        return live

    rank = None
    if classes.draft_column is not None:
        method, codes = session.active().method, session.all_codes()
        boost = calibration(classes.kinds, request.gamma)
        score = partial(score_in_chunks, method.score)
        if on_page is None or request.first_rows <= 0 or not method.bounded_columns:
            if on_page is not None:  # no page to rank first: the selected image's scores first
                on_page(scored(None, final=False))
            rank = session.ranker.rank(score, codes, classes.matrix, classes.draft_column, boost)
        else:
            column = LiveColumn(
                first=request.first_rows,
                shown=request.shown,
                on_page=lambda page: on_page(scored(page, final=False)),
                change=partial(method.column_change, codes),
                rows=partial(method.column_rows, codes),
                whole=partial(method.column_whole, codes),
                stale=stale,
            )
            rank = session.ranker.rank_page_first(score, codes, classes.matrix, classes.draft_column, boost, column)
            if rank is None:
                return None
        rank = np.asarray(rank, np.float32)
    return scored(rank)
