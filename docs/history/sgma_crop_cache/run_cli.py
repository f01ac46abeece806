"""python run_cli.py <cli args>: the CLI, then SGMA's crop caches' counters (layout 2 only; docs/history/sgma_crop_cache.md)."""

import atexit
import sys

from zsl_desktop.cli import main


def report():
    try:
        from zsl_desktop.engine.methods.sgma import crop_cache
    except ImportError:
        return
    for cache in crop_cache.open_caches():
        files = list(cache.folder.glob("chunk-*.npy"))
        size = sum(p.stat().st_size for p in files)
        print(
            f"CACHESTATS {cache.folder}: hits {cache.hits} misses {cache.misses} bytes_read {cache.bytes_read} "
            f"keys {len(cache)} files {len(files)} folder_bytes {size}",
            file=sys.stderr,
        )


atexit.register(report)
sys.exit(main())
