"""What to open (``DatasetSpec``) and the models that ship for the built-in birds; no torch.

Why apart from ``opening``: the app's window builds a spec at start-up, and ``opening`` imports the
session's facade (torch), which the start-up modules must not do before the first predictions (issue #19).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.paths import shipped_models_dir


def shipped_checkpoint() -> Path:
    """The MSDN model that ships for the built-in birds (``msdn_builtin.pt`` in the shipped ``trained/``)."""
    return shipped_models_dir() / "msdn_builtin.pt"


def shipped_checkpoints() -> list[Path]:
    """Every model that ships in ``trained/`` for the built-in birds (``<method>_builtin.pt``), MSDN first.

    (The real-bird model, ``ce-gzsl_cub.pt``, is not one: ``engine/real_birds.py`` loads it for photos.)
    """
    folder = shipped_checkpoint().parent
    found = sorted(folder.glob("*_builtin.pt")) if folder.is_dir() else []
    return sorted(found, key=lambda p: (p.name != "msdn_builtin.pt", p.name))


@dataclass(frozen=True)
class DatasetSpec:
    """What to open: the built-in birds, a dataset path, or a Dataset object (tests, injection)."""

    source: str = "builtin"  # "builtin" | "path" | "object"
    path: str | None = None
    format: str | None = None
    small: bool = False
    dataset: Dataset | None = None
    checkpoints: tuple = ()  # paths to try in order; the first compatible one is loaded
    remembered: tuple = ()  # (dataset fingerprint, checkpoint path): the user's last model per dataset
    use_remembered: bool = True  # False: exactly ``checkpoints`` (the bench measures the shipped model)
    model: tuple | None = None  # (method, header, source) to use directly
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    warm_up: bool = True
    # A threading.Event the app sets once the first predictions are on screen: the warm-up waits for it
    # (at most WARM_UP_WAIT_S), since its imports hold the GIL for a second or more (see wait_for_gate).
    warm_up_after: object = None
    # A threading.Event the app sets once it has shown the model's kept predictions (or found none):
    # torch's import waits for it (session/before_torch.py).
    before_torch: object = None
    generation: int = 0

    @property
    def title(self) -> str:
        if self.dataset is not None:
            return getattr(self.dataset, "name", "dataset")
        if self.source == "builtin":
            return "built-in birds" + (" (small)" if self.small else "")
        return Path(self.path or "").name or str(self.path)


def model_candidates(spec: DatasetSpec, dataset) -> list:
    """The checkpoint files an opening tries, in order: the user's last model for this dataset, then the spec's."""
    remembered = [p for fp, p in spec.remembered if fp == dataset.fingerprint]
    ordered = remembered + [p for p in spec.checkpoints if str(p) not in remembered]
    return [p for p in ordered if Path(p).exists()]
