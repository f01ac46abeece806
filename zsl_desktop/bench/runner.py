"""``zsl-desktop bench``: the interactive and throughput targets, measured on this machine.

``run`` runs the sections in order, each with the threads its real counterpart uses, and ``main`` prints
what they measured. The machine is noisy, so timings are medians / percentiles of repeated runs, and
ratios are taken within one run. ``--quick`` keeps every target line at smaller sizes so the whole bench
runs within 90 s; the test suite runs it smaller still (``sizes``).

The sections: live re-scoring (``rescoring``; while training: ``live_training``; at 100,000 images:
``scale``), feature extraction (here), training (``training_speed``) and the app (``ui``, in child
processes). What a figure is and how it is printed: ``rows``.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict, replace

import numpy as np

from zsl_desktop.bench.rescoring import bench_rescoring
from zsl_desktop.bench.rows import Row, format_markdown, format_table, progress_line, report_rows
from zsl_desktop.bench.sizes import Sizes
from zsl_desktop.bench.training_speed import OFFICIAL_CUB_SECONDS_PER_EPOCH, bench_training
from zsl_desktop.bench.whole import EVERY_SECTION, bench_wall_s, whole_rows


# -- 3. feature extraction ---------------------------------------------------------------------------
def matmul_rates(size: int = 1024, repeats: int = 5) -> list[float]:
    """GFLOP/s of ``repeats`` dense float32 matmuls with torch's current threads (the compute bound)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return rates


EXTRACT_ROUNDS = 4  # rounds of (5 matmuls, every batch once): both sides sampled across the same seconds


def bench_extraction(dataset, sizes: Sizes) -> list[Row]:
    """Backbone images/s at the app's CPU batch against the matmul bound: the median of each, taken in turns.

    Why the same statistic on both sides: the bound was the best of 5 matmuls of ~5 ms, taken once after
    the batches, against the median batch. On a quiet 2-core Xeon the best of 5 alone moved 324-392 GFLOP/s
    within 30 s while the median batch moved 208-217 img/s, so the fraction followed the matmul's luck
    (0.37-0.53 between quiet runs). A best against a median also puts the backbone's typical batch against
    the matmul's luckiest. Now each round times 5 matmuls, then every batch, and the fraction is the median
    batch against the median matmul, both from the same rounds and the same threads.
    """
    import torch

    from zsl_desktop.engine.backbones import BACKBONES, DEFAULT_BACKBONE, load_backbone, preprocess
    from zsl_desktop.engine.features import CPU_BATCH_SIZE
    from PIL import Image

    spec = BACKBONES[DEFAULT_BACKBONE]
    model = load_backbone(DEFAULT_BACKBONE)
    n = min(sizes.extract_images, dataset.num_samples)
    start = time.perf_counter()
    tensors = []
    for i in range(n):
        with Image.open(dataset.image_path(i)) as im:
            tensors.append(preprocess(im, spec))
    decode = (time.perf_counter() - start) / n
    batch = min(CPU_BATCH_SIZE, n)  # what extract_all runs on the CPU
    per_batch, matmuls = [], []
    with torch.inference_mode():
        model(torch.stack(tensors[:batch]))  # warm-up
        for _ in range(EXTRACT_ROUNDS):
            matmuls += matmul_rates()
            for i in range(0, n - batch + 1, batch):
                images = torch.stack(tensors[i : i + batch])
                start = time.perf_counter()
                model(images)
                per_batch.append(time.perf_counter() - start)
    model_rate = batch / float(np.median(per_batch))
    end_to_end = 1.0 / (1.0 / model_rate + decode)
    flops = model.flops_per_image(spec.default_input_size)
    bound = float(np.median(matmuls)) * 1e9 / flops
    ratio = model_rate / bound
    return [
        Row("extract", f"backbone images/s (EfficientNet-Lite0, 224 px, batch {batch}, median)", model_rate, "img/s"),
        Row("extract", "with JPEG decode + resize (one thread)", end_to_end, "img/s"),
        Row("extract", "compute bound (median matmul GFLOP/s / FLOPs per image)", bound, "img/s"),
        Row("extract", "fraction of the compute bound", ratio, "", ">= 0.5", ratio >= 0.5),
    ]


# -- 5/6. start-up and memory (need the app) ----------------------------------------------------------
def bench_app(sizes: Sizes, checkpoint=None, report=None) -> list[Row]:
    """The app's rows (child processes, ``ui``); ``report(row)`` hears each as it is measured."""
    try:
        from zsl_desktop.bench import ui as bench_ui
    except ImportError as exc:
        return [Row("app", f"app benchmarks unavailable ({exc})", float("nan"), "")]
    return [Row(**r) for r in bench_ui.run(sizes, checkpoint, report=lambda r: report_rows(report, [Row(**r)]))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the app's): on a busy machine the wall
    time of a section says mostly how loaded the machine was, its CPU time what the section cost."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(
    quick: bool = False,
    sizes: Sizes | None = None,
    sections=None,
    dataset=None,
    features=None,
    real_cub: bool = True,
    report=None,
    say=None,
    methods=None,
) -> list[Row]:
    """Each section runs with the threads its real counterpart uses: live scoring with the app's
    (every core but the GUI's), extraction and training with the CLI's (every core).

    ``report(row)`` hears each figure as soon as it is measured, ``say(text)`` what starts next
    (the CLI prints both on stderr: a full bench takes minutes).
    """
    say = say or (lambda text: None)
    from zsl_desktop.bench.real_cub import forget_real_cub
    from zsl_desktop.engine import threads
    from zsl_desktop.engine.features import FeatureStore, extract_all

    sizes = sizes or (Sizes.quick() if quick else Sizes())
    sections = set(sections or EVERY_SECTION)
    if dataset is None:
        from zsl_desktop.engine.data import load_builtin

        dataset = load_builtin()
    forget_real_cub()  # read once per run: a later run reads the files again
    rows: list[Row] = []
    if "rescore" in sections:
        say(f"live re-scoring of {sizes.rescore_images:,} images, each method…")
        threads.configure(threads.worker_threads())
        rows += bench_rescoring(dataset, sizes, methods, report=report, real_cub=real_cub)
    if "scale" in sections:
        from zsl_desktop.bench import scale

        say(f"live re-scoring of {sizes.scale_images:,} images, each method…")
        threads.configure(threads.worker_threads())
        big = replace(
            sizes,
            rescore_images=sizes.scale_images,
            rescore_edits=sizes.scale_edits,
            full_recomputes=sizes.full_recomputes
            if sizes.scale_full_recomputes is None
            else sizes.scale_full_recomputes,
        )
        big_rows = bench_rescoring(dataset, big, methods, report=report, real_cub=real_cub)
        rows += [replace(r, section="scale") for r in big_rows]
        say(f"the app with {sizes.scale_images:,} images: start-up, gallery scrolling, memory…")
        scale_rows = [Row(**r) for r in scale.run(sizes)]
        rows += scale_rows
        report_rows(report, scale_rows)
    if "livetrain" in sections:
        from zsl_desktop.bench.live_training import bench_live_while_training

        say(f"live re-scoring of {sizes.rescore_images:,} images while MSDN trains, each method…")
        threads.configure(threads.worker_threads())
        rows += bench_live_while_training(dataset, sizes, methods, report, real_cub, features)
    threads.configure(threads.cores())
    if "extract" in sections:
        say("feature extraction…")
        rows += bench_extraction(dataset, sizes)
        report_rows(report, rows[-4:])
    if "train" in sections:
        if sizes.train_builtin:
            say(f"training on {dataset.name}, {sizes.train_epochs} epoch(s) per method…")
            if features is None:
                features = extract_all(dataset).source()
            rows += bench_training(dataset, features, sizes, dataset.name, methods, report=report)
        from zsl_desktop.bench import real_cub as shared
        from zsl_desktop.engine.methods import method_names

        cub = shared.real_cub() if real_cub else None
        if cub is not None:
            store = FeatureStore.open(cub, "efficientnet_lite0", 224) or extract_all(cub)
            say(f"training on the real CUB subset, {sizes.train_epochs} epoch(s) per method…")
            timed = methods
            if not sizes.train_untargeted:  # --quick: only the rows with a target
                timed = [m for m in (methods or method_names()) if m in OFFICIAL_CUB_SECONDS_PER_EPOCH]
            rows += bench_training(
                cub,
                store.source(),
                sizes,
                "real CUB subset",
                methods=timed,
                official=OFFICIAL_CUB_SECONDS_PER_EPOCH,
                report=report,
            )
    if "app" in sections:
        say("the app: first launch, start-up, frame gaps, memory…")
        rows += bench_app(sizes, report=report)
    return rows


def main(args) -> int:
    import sys

    from zsl_desktop.engine import threads
    from zsl_desktop.engine.cpu import describe_this_cpu

    start = time.perf_counter()
    machine = describe_this_cpu()  # figures differ 2-3x between CPUs: each report names its machine
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        machine += (
            "\n(PYTHONDONTWRITEBYTECODE is set here; the app's child processes run without it, as an installed app)"
        )
    print(machine, file=sys.stderr, flush=True)

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - start:5.0f}s, CPU {cpu_seconds():5.0f}s] {text}", file=sys.stderr, flush=True)

    def report(row: Row) -> None:
        print(progress_line(row), file=sys.stderr, flush=True)

    methods = getattr(args, "methods", None)
    rows = run(quick=args.quick, sections=args.only, report=report, say=say, methods=methods)
    closing = whole_rows(bench_wall_s(start), cpu_seconds(), args.quick, args.only, methods, threads.cores())
    report_rows(report, closing)
    rows += closing
    print(machine)
    print(format_table(rows))
    print(
        f"\n(bench took {closing[0].value:.0f}s on {threads.cores()} cores, {closing[1].value:.0f}s of CPU "
        f"with its children; peak RSS of this process {peak_rss_mb():.0f} MB)"
    )
    from zsl_desktop.engine.atomic import atomic_write_text

    if args.json:
        atomic_write_text(args.json, json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=1))
    if getattr(args, "markdown", None):
        atomic_write_text(args.markdown, format_markdown(rows) + f"\n{machine}\n")
    return 0
