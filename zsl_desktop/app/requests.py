"""Short jobs: what the latest-request-wins runners compute (scores, explanations, pixels, projections).

Each is a plain function of the worker context and a frozen request,
returning a frozen result from ``results``; none may block for long except
projections, which run on the slow runner and check ``ticket.stale()``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from zsl_desktop.app.context import EngineContext
from zsl_desktop.app.results import AllScores, DraftCluster, Evaluated, Explained, ImageData, LiveScores

LARGE_IMAGE_SIDE = 1024
DRAFT_SYNTH = 60  # features synthesised for the class being drawn (generative models, PCA feature view)


@dataclass(frozen=True)
class LiveRequest:
    item: int | None
    matrix: np.ndarray  # [C, A] raw class attributes: dataset, user, draft
    names: tuple
    kinds: tuple
    draft_column: int | None = None
    generation: int = 0
    real_bird_classes: tuple = ((), None)  # (names, [U, 312]) the user's classes on CUB's attributes


def live_scores(ctx: EngineContext, request: LiveRequest) -> LiveScores:
    method = ctx.model().method
    codes = ctx.all_codes()
    scores = None
    if request.item is not None and 0 <= request.item < len(codes):
        scores = np.asarray(method.score(codes[request.item:request.item + 1], request.matrix)[0], np.float32)
    draft = None
    if request.draft_column is not None:
        column = request.matrix[request.draft_column:request.draft_column + 1]
        draft = np.asarray(method.score(codes, column)[:, 0], np.float32)
    live = LiveScores(request.item if scores is not None else -1, tuple(request.names), tuple(request.kinds),
                      scores, request.draft_column, draft, request.generation)
    if scores is not None and request.item >= ctx.session.dataset.num_samples:
        live = photo_scores(ctx, request, live)
    return live


def photo_scores(ctx: EngineContext, request: LiveRequest, live: LiveScores) -> LiveScores:
    """A loose photo's live scores: the active model's with its domain warning, or the real-bird model's.

    The real-bird model takes a photo outside the active model's domain and inside its own
    (``real_birds.use_real_bird_model``): it scores the 200 CUB species and the user's classes
    drawn on CUB's attributes.
    """
    verdict = ctx.photo_verdict(request.item)
    real = ctx.real_birds() if verdict.use_real_birds else None
    if real is None:
        return replace(live, out_of_domain=verdict.out_of_domain)
    user_names, user_matrix = request.real_bird_classes
    scores = np.asarray(real.scores(ctx.loose_pooled(request.item), user_matrix)[0], np.float32)
    names = tuple(real.class_names) + tuple(user_names)
    kinds = tuple(real.kinds) + ("user",) * len(user_names)
    return replace(live, class_names=names, class_kinds=kinds, scores=scores, predicted_by=real_birds_title(),
                   gamma_offset=real.gamma - ctx.model().gamma, out_of_domain=verdict.out_for_real_birds)


def real_birds_title() -> str:
    from zsl_desktop.engine.real_birds import TITLE

    return TITLE


def draft_cluster(ctx: EngineContext, values: np.ndarray, place, generation: int = 0) -> DraftCluster:
    """Features a generative model synthesises for the drawn class, placed on the feature view's map.

    Its own request, after the live scores: synthesis costs up to ~7 ms (GSMFlow), which the
    scores of a slider move should not wait for. The same seed every time, so moving a
    slider moves the cluster rather than re-scattering it.
    """
    method = ctx.model().method
    row = np.asarray(values, np.float32)[None]
    return DraftCluster(place(method.synthesize(row, DRAFT_SYNTH, seed=0)), generation, place)


def all_scores(ctx: EngineContext, matrix: np.ndarray, names, kinds, generation: int = 0) -> AllScores:
    method = ctx.model().method
    codes = ctx.all_codes()
    out = np.empty((len(codes), len(matrix)), np.float32)
    for i in range(0, len(codes), 4096):
        out[i:i + 4096] = method.score(codes[i:i + 4096], matrix)
    return AllScores(out, tuple(names), tuple(kinds), generation)


def explain(ctx: EngineContext, item: int, generation: int = 0) -> Explained:
    """Attention maps (and part boxes and crops, for methods that localise parts) of one item."""
    import inspect

    import torch

    method = ctx.model().method
    try:
        features = ctx.item_features(item, method.feature_kind)
    except ValueError:
        return Explained(item, None, None, generation=generation)
    kwargs = {}
    if "image" in inspect.signature(method.explain).parameters:  # SGMA crops its parts from the image
        path = ctx.item_path(item)
        if path is not None:
            kwargs["image"] = path
    with torch.inference_mode():
        e = method.explain(features, **kwargs)
    crops = tuple(np.asarray(c, np.uint8) for c in (e.extras or {}).get("crops", ()) or ())
    return Explained(item, e.attribute_scores, e.attention, e.part_boxes, e.part_attention, generation, crops)


def load_image(path, item: int, generation: int = 0, max_side: int = LARGE_IMAGE_SIDE) -> ImageData:
    from PIL import Image, ImageOps

    with _gated_open(path) as im:
        im = ImageOps.exif_transpose(im)
        size = im.size
        im = im.convert("RGB")
        if max(size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        rgb = np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    return ImageData(item, rgb, str(path), size, generation)


def _gated_open(path):
    """``Image.open`` after the engine's image gate: no pipes or devices, size and pixel limits."""
    from PIL import Image

    from zsl_desktop.engine.images import ImageFileError, check_size
    from zsl_desktop.engine.userfiles import check_file

    if check_file(path, "image", ImageFileError) == 0:
        raise ImageFileError(path, "the file is empty (0 bytes)")
    image = Image.open(path)
    check_size(path, image.size)
    return image


def load_thumbnail(path, size: int) -> np.ndarray:
    """A small RGB array, decoded at reduced resolution where the format allows (JPEG draft mode)."""
    from PIL import Image, ImageOps

    with _gated_open(path) as im:
        im.draft("RGB", (size * 2, size * 2))
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((size, size), Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def evaluate(ctx: EngineContext, gamma: float | None = None, generation: int = 0) -> Evaluated:
    report = ctx.session.evaluate(gamma)
    return Evaluated(report, report.gamma_source, generation)


def save_model(ctx: EngineContext, path) -> str:
    from zsl_desktop.engine.checkpoints import save_checkpoint

    state = ctx.model()
    save_checkpoint(path, state.header, state.method.state_dict())
    return str(path)


def project(ctx: EngineContext, method: str, cap: int | None, seed: int, ticket=None, generation: int = 0,
            space: str = "features", synthesize: int = 0):
    """Project the dataset's pooled backbone features, or the model's per-image codes (``space="codes"``).

    The codes (MSDN: one score per attribute) are the space the classes are compared in, so
    classes separate there much more than in raw backbone features, where the background dominates.
    With a generative model and ``synthesize`` > 0, that many features per unseen class are
    synthesised from the class attributes and projected together with the real ones.
    """
    from zsl_desktop.engine.projection import project as run

    session = ctx.session
    dataset = session.dataset
    n = dataset.num_samples
    extra = extra_labels = None
    if space == "codes":
        data = ctx.all_codes()[:n].reshape(n, -1)
    else:
        data = session.features.pooled
        if data is None:
            raise ValueError(f"{dataset.name} has no pooled features to project")
        model = session.model
        if synthesize and model is not None and type(model.method).generative:
            classes = np.asarray(dataset.unseen_classes)
            extra = model.method.synthesize(dataset.class_attributes[classes], synthesize, seed=seed)
            extra_labels = np.repeat(classes, synthesize)
    callback = ticket.partial if ticket is not None else None
    cancel = ticket.stale if ticket is not None else None
    projection = run(data, dataset.labels, method, cap, seed, callback=callback, cancel=cancel,
                     extra=extra, extra_labels=extra_labels)
    return replace(projection, space=space)
