"""Slider moves of a drawn class, as the app's live job runs them, timed the way the user sees them.

Each move is one ``Session.live_scores`` request with the gallery's page first (``PAGE_ROWS``
rows of the ranking, as ``engine/live_page.py`` ranks them): the bench records the time until
that page and the selected image's scores are final (what the user sees; the target), and the
time until every image's score is final.

The codes are what pruning the page depends on, so they are realistic: the dataset's own
images encoded when its features fit the method (the built-in birds' real Lite0 features for
GSMFlow, IPCE and MSDN), else random features (CE-GZSL's stand-in model, SGMA, which re-encodes crops); repeated up to the wanted count, each copy moved by
``JITTER`` of the codes' spread per dimension so that every image is a distinct near-duplicate,
as in a large photo collection, and not a tie with a hundred copies of itself.
"""

from __future__ import annotations

import time

import numpy as np

PAGE_ROWS = 100  # the gallery at 1600 x 1000 shows ~40 thumbnails: this is a page and a scroll beyond it
JITTER = 0.05  # each repeated code moves by this share of the codes' standard deviation, per dimension
BASE_IMAGES = 3000  # distinct images encoded at most (the built-in birds have 3,000)
BASE_GRID_IMAGES = 1000  # grid features are 50 times larger: fewer of them
NOISE_ROWS = 8191  # rows of jitter drawn (a prime above any base's row count: see spread_codes)


_BASE_CODES: dict[tuple, tuple[np.ndarray, str]] = {}  # (model digest, dataset, seed) -> base_codes' answer


def model_digest(method) -> str:
    """A digest of ``method``'s weights: two loads of the same model give the same one."""
    import hashlib

    import torch

    digest = hashlib.blake2b(method.name.encode(), digest_size=16)
    for key, value in sorted(method.state_dict().items()):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()
        if isinstance(value, np.ndarray):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def cached_base_codes(method, dataset, seed: int = 0) -> tuple[np.ndarray, str]:
    """``base_codes``, encoded once per bench run for each model and dataset.

    The rescore, scale and livetrain sections each load the same model and time it on the same
    images: encoding them again (MSDN's five final models on 1,000 grids: ~0.9 s of CPU, each time) would
    time nothing. The key is the model's weights, so a different model is encoded afresh.
    """
    key = (model_digest(method), dataset.name, dataset.fingerprint, seed)
    if key not in _BASE_CODES:
        _BASE_CODES[key] = base_codes(method, dataset, seed)
    codes, origin = _BASE_CODES[key]
    return codes.copy(), origin


def base_codes(method, dataset, seed: int = 0) -> tuple[np.ndarray, str]:
    """(codes of up to BASE_IMAGES distinct images, where they came from)."""
    import torch

    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.methods.base import FeatureSource
    from zsl_desktop.engine.scoring import encode_rows

    kind = method.feature_kind
    if dataset.has_images and not method.reencodes_images:  # SGMA re-encodes part crops: random features
        store = FeatureStore.open(dataset, "efficientnet_lite0", 224)
        array = None if store is None else (store.pooled if kind == "pooled" else store.grid)
        if array is not None and array.shape[1] == int(method.info.channels):
            rows = np.arange(min(BASE_IMAGES if kind == "pooled" else BASE_GRID_IMAGES, dataset.num_samples))
            with torch.inference_mode():
                source = FeatureSource(pooled=array) if kind == "pooled" else FeatureSource(grid=array)
                codes = encode_rows(method, source, rows, "cpu")
            return codes, "real features"
    channels, grid = method.info.channels, tuple(method.info.grid_size or (7, 7))
    count = BASE_GRID_IMAGES // 4 if kind == "grid" else BASE_IMAGES
    shape = (count, channels, *grid) if kind == "grid" else (count, channels)
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        codes = np.concatenate(
            [method.encode(torch.rand((64, *shape[1:]), generator=generator)) for _ in range(0, count, 64)]
        )
    return codes, "random features"


def live_subject(name: str, dataset, real_cub: bool = True):
    """(method, where it came from, dataset) whose live scores the bench times for method ``name``.

    CE-GZSL ships no model for the built-in birds; its stand-in (one epoch on random features) scores
    every image nearly alike, which no bound can prune. The shipped real-bird CE-GZSL on the real CUB
    subset (when both are here) is what a user runs: it is timed instead, on CUB's 312 attributes.
    """
    from zsl_desktop.bench.trained import trained_method

    if name == "ce-gzsl" and real_cub:
        from zsl_desktop.bench.real_cub import real_cub
        from zsl_desktop.engine.checkpoints import load_checkpoint
        from zsl_desktop.engine.features import FeatureStore
        from zsl_desktop.engine.paths import shipped_models_dir
        from zsl_desktop.engine.training import method_from_checkpoint

        model = shipped_models_dir() / "ce-gzsl_cub.pt"
        cub = real_cub() if model.is_file() else None
        if cub is not None:
            if FeatureStore.open(cub, "efficientnet_lite0", 224) is not None:
                return method_from_checkpoint(load_checkpoint(model)), "shipped real-bird model, CUB", cub
    method, origin = trained_method(name, dataset)
    return method, origin, dataset


def spread_codes(base: np.ndarray, n_images: int, seed: int = 0) -> np.ndarray:
    """``base`` repeated to ``n_images`` rows, every row after the first copy jittered (JITTER).

    The jitter rows come from one Gaussian block of NOISE_ROWS rows, repeated: image ``i`` gets base row
    ``i % len(base)`` and noise row ``(i - len(base)) % NOISE_ROWS``, a pair that comes back only after
    ``len(base) x NOISE_ROWS`` images (NOISE_ROWS is prime), so every image is still a distinct
    near-duplicate. Drawing a fresh normal for every value took ~2 s of CPU per method at 100,000 codes
    of 1,024 dimensions (a busy 2-core Xeon), time that measured nothing.
    """
    codes = np.resize(np.asarray(base, np.float32), (n_images, *base.shape[1:]))
    if len(base) < n_images:
        rng = np.random.default_rng(seed)
        rows = min(NOISE_ROWS, n_images - len(base))
        noise = rng.standard_normal((rows, *base.shape[1:]), dtype=np.float32)
        noise *= (JITTER * base.std(0)).astype(np.float32)
        for start in range(len(base), n_images, rows):
            part = codes[start : start + rows]
            part += noise[: len(part)]
    return np.ascontiguousarray(codes)


class LiveEdits:
    """A session scoring ``n_images`` codes of ``method``, and slider moves of a draft class as LiveRequests.

    Each ``next()`` moves one attribute of the draft to a random value, as a click on a slider does.
    ``timed`` runs one and records its times.
    """

    def __init__(self, method, dataset, n_images: int, seed: int = 0, first_rows: int = PAGE_ROWS):
        from zsl_desktop.engine.session import Session
        from zsl_desktop.engine.session.results import ClassSet

        self.rng = np.random.default_rng(seed)
        base, self.origin = cached_base_codes(method, dataset, seed)
        self.codes = spread_codes(base, n_images, seed)
        self.method = method
        self.first_rows = first_rows
        self.session = Session(dataset, device="cpu")
        self.session.use_codes(method, {}, self.codes)
        self.session.prepare_live()  # as the app's warm-up does after opening (engine/session/warmup.py)
        self.classes = dataset.class_attributes.astype(np.float32)
        self.draft = self.classes[self.rng.integers(len(self.classes))].copy()
        self.names = tuple(dataset.classes) + ("draft",)
        self.kinds = ("dataset",) * len(self.classes) + ("draft",)
        # As the app does once a model's first live scores are in (app/after_first_live.py): every image's scores
        # for the gallery's predictions, at the predictions' γ (the requests' default), which prime the ranker.
        self.session.all_scores(ClassSet(self.names[:-1], self.kinds[:-1], self.classes), gamma=0.0)
        self.high = float(self.classes.max()) or 1.0
        self.count = 0
        self.cpu: list[float] = []  # CPU seconds of this thread until the page was final
        self.whole: list[float] = []  # wall seconds until every score was final
        self.whole_cpu: list[float] = []

    def next(self):
        from zsl_desktop.engine.session.results import ClassSet, LiveRequest

        self.draft[self.rng.integers(len(self.draft))] = self.rng.uniform(0, self.high)
        self.count += 1
        return LiveRequest(
            item=int(self.rng.integers(len(self.codes))),
            generation=self.count,
            classes=ClassSet(self.names, self.kinds, np.vstack([self.classes, self.draft]), len(self.classes)),
            first_rows=self.first_rows,
        )

    def timed(self, request) -> float:
        """Wall seconds until the page and the selected image's scores are final (the whole job when the
        page did not come first). CPU seconds of this thread go to ``cpu``: a busy machine stretches the
        wall time, much less the CPU time; the whole job's times go to ``whole`` and ``whole_cpu``."""
        cpu, start = time.thread_time(), time.perf_counter()
        page: list[float] = []

        def on_page(live) -> None:
            if live.draft_rank is not None:  # an early answer without the page (the selected image only) is not it
                page.extend((time.perf_counter() - start, time.thread_time() - cpu))

        self.session.live_scores(request, on_page=on_page)
        whole, whole_cpu = time.perf_counter() - start, time.thread_time() - cpu
        self.whole.append(whole)
        self.whole_cpu.append(whole_cpu)
        self.cpu.append(page[1] if page else whole_cpu)
        return page[0] if page else whole

    def clear(self) -> None:
        self.cpu.clear()
        self.whole.clear()
        self.whole_cpu.clear()
