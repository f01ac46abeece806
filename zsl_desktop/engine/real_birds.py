"""The shipped real-bird model: CE-GZSL trained on real CUB photos, scoring all 200 CUB species.

Why it exists: the models shipped for the built-in birds only know drawings, so a real
photo dropped on the app got a drawing's species ("White breasted Hummer 11%"). This
model was trained on the 641 trainval photos of the 40 seen species of the CUB subset
(EfficientNet-Lite0 pooled features, CUB's 312 attributes), and its final softmax was
refit over all 200 CUB species (real features for the 40 seen, synthesised ones for the
160 others; ``build_real_bird_model``), so every species has a trained column; a class the
user draws on CUB's attributes gets the comparator's calibrated column like any new row.

Files: ``trained/ce-gzsl_cub.pt`` (heads only, with its out-of-domain reference) and
``resources/cub_classes.csv`` (the 200 species: names and the 312 attribute percentages
of CUB's ``class_attribute_labels_continuous.txt``, in the class-CSV form of
``class_csv``). ``docs/real_birds/make_shipped.py`` makes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine import out_of_domain as ood
from zsl_desktop.engine.cub_species import CLASSES_FILE as CLASSES_FILE
from zsl_desktop.engine.cub_species import classes_path as classes_path
from zsl_desktop.engine.cub_species import cub_attribute_names as cub_attribute_names
from zsl_desktop.engine.cub_species import cub_classes as cub_classes
from zsl_desktop.engine.cub_species import species_for_attributes as species_for_attributes
from zsl_desktop.engine.methods.base import Method

MODEL_FILE = "ce-gzsl_cub.pt"
TITLE = "real-bird model (CE-GZSL trained on real CUB photos)"


def shipped_model_path() -> Path:
    from zsl_desktop.engine.paths import shipped_models_dir

    return shipped_models_dir() / MODEL_FILE


@dataclass(frozen=True)
class RealBirdModel:
    """The loaded real-bird model with its 200 species, their seen/unseen kinds, γ and domain reference."""

    method: Method
    header: dict
    class_names: tuple[str, ...]
    class_attributes: np.ndarray  # [200, 312]
    kinds: tuple[str, ...]  # "seen" (trained on photos) or "unseen"
    domain: ood.DomainReference | None
    path: Path

    @property
    def gamma(self) -> float:
        return float(self.header.get("gamma", 0.0))

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(self.header["attribute_names"])

    def encode(self, pooled) -> np.ndarray:
        with torch.inference_mode():
            return self.method.encode(torch.as_tensor(np.asarray(pooled, np.float32)))

    def scores(self, pooled, extra_rows=None) -> np.ndarray:
        """Raw logits [N, 200 (+ extra)] of pooled Lite0 features against the species (and ``extra_rows``)."""
        rows = self.class_attributes
        if extra_rows is not None and len(extra_rows):
            rows = np.concatenate([rows, np.asarray(extra_rows, np.float32)])
        return self.method.score(self.encode(pooled), rows)

    def out_of_domain(self, pooled) -> np.ndarray:
        """[N] True where the photo is far from the real bird photos it was trained on."""
        if self.domain is None:
            return np.zeros(len(pooled), bool)
        return self.domain.is_out(pooled)


def load_real_bird_model(path=None) -> RealBirdModel | None:
    """The shipped real-bird model, or None when it (or its class file) is not installed."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.training import method_from_checkpoint

    path = Path(path) if path is not None else shipped_model_path()
    if not path.is_file() or not classes_path().is_file():
        return None
    checkpoint = load_checkpoint(path)
    names, matrix = cub_classes()
    seen = set(checkpoint.header.get("real_birds", {}).get("seen_species", ()))
    method = method_from_checkpoint(checkpoint)
    kinds = tuple("seen" if n in seen else "unseen" for n in names)
    return RealBirdModel(
        method,
        checkpoint.header,
        names,
        matrix,
        kinds,
        ood.DomainReference.from_checkpoint(checkpoint.header, checkpoint.state),
        path,
    )


# -- making it ----------------------------------------------------------------------------------------------
def species_positions(dataset, names) -> np.ndarray:
    """Position among ``names`` of each of the dataset's classes (matched by name)."""
    index = {n: i for i, n in enumerate(names)}
    missing = [c for c in dataset.classes if c not in index]
    if missing:
        raise ValueError(f"{len(missing)} classes of {dataset.name} are not among the species (e.g. {missing[0]!r})")
    return np.array([index[c] for c in dataset.classes], np.int64)


def evaluate_over(method, dataset, features, rows, positions, seen_pos, gamma, device="cpu"):
    """Test-split figures of ``method`` scoring against ``rows`` (all candidates), the dataset's labels mapped
    to ``positions``; ``seen_pos`` are the candidates with training photos, every other one is unseen."""
    from zsl_desktop.engine.scoring import encode_rows

    unseen_pos = np.setdiff1d(np.arange(len(rows)), seen_pos)
    s = {
        k: method.score(encode_rows(method, features, dataset.splits[k], device), rows)
        for k in ("test_seen", "test_unseen")
    }
    y = {k: positions[dataset.labels[dataset.splits[k]]] for k in s}
    return ev.evaluate(
        s["test_seen"], y["test_seen"], s["test_unseen"], y["test_unseen"], seen_pos, unseen_pos, gamma, "validation"
    )


def build_real_bird_model(checkpoint, dataset, features, names, matrix, device="cpu"):
    """(method, header, state): ``checkpoint``'s CE-GZSL/IPCE with its softmax refit over every species.

    The 40 seen species get the real features of the final model's training rows, the others
    synthesised ones (``refit_classifier``); γ is placed again at the training's chosen share of
    rejected calibration images (now against every species), and the out-of-domain reference is
    the training rows with its threshold on the same calibration rows. Never looks at test images.
    """
    from zsl_desktop.engine.selection import gamma_at_rate
    from zsl_desktop.engine.training import method_from_checkpoint

    h = dict(checkpoint.header)
    method = method_from_checkpoint(checkpoint).to(device)
    if not hasattr(method, "refit_classifier"):
        raise ValueError(f"{h['method']}: only CE-GZSL and IPCE refit their classifier over new species")
    positions = species_positions(dataset, names)
    seen_pos = np.sort(positions[np.asarray(dataset.seen_classes)])
    train, held = ood.calibration_split(dataset, int(h.get("seed", 0)))
    pooled_train = features.rows("pooled", train)
    method.refit_classifier(matrix, pooled_train, positions[dataset.labels[train]], seed=int(h.get("seed", 0)))
    held_scores = method.score(method.encode(features.rows("pooled", held)), matrix)
    unseen_pos = np.setdiff1d(np.arange(len(names)), seen_pos)
    flips = held_scores[:, seen_pos].max(1) - held_scores[:, unseen_pos].max(1)
    rate = float(h["selection"]["seen_rejection"])
    gamma = gamma_at_rate(flips, rate)
    domain = ood.fit_reference(
        pooled_train.numpy(),
        dataset.labels[train],
        features.rows("pooled", held).numpy(),
        dataset.labels[held],
        seed=int(h.get("seed", 0)),
    )
    all_species = evaluate_over(method, dataset, features, matrix, positions, seen_pos, gamma, device)
    subset = evaluate_over(
        method,
        dataset,
        features,
        matrix[positions],
        np.arange(dataset.num_classes),
        np.asarray(dataset.seen_classes),
        gamma,
        device,
    )
    # "metrics" stay what ``zsl-desktop eval`` of this file on its dataset gives (the subset's 50 classes);
    # the figures against all 200 species are the app's case.
    h.update(
        {
            "gamma": gamma,
            "gamma_source": "validation",
            "metrics": subset.as_dict(),
            ood.HEADER_KEY: domain.header(),
            "real_birds": {
                "seen_species": [names[i] for i in seen_pos],
                "trained_on": dataset.name,
                "metrics_all_species": all_species.as_dict(),
                "seen_rejection": rate,
                "gamma_training": float(checkpoint.header["gamma"]),
                "metrics_training": checkpoint.header.get("metrics", {}),
            },
        }
    )
    h.pop("checksums", None)
    from zsl_desktop.engine.training import inference_state

    return method, h, {**inference_state(method), **domain.state()}


# -- using it in the app ------------------------------------------------------------------------------------
def use_real_bird_model(out_for_current: bool, out_for_real: bool) -> bool:
    """Whether a loose photo is scored by the real-bird model instead of the open dataset's model.

    When the photo is out of the current model's domain and inside the real-bird model's: on the
    built-in birds (drawings) that is every real bird photo, while a drawing exported from the
    gallery stays with the drawings' model and a cat stays with the current model and its warning.
    The same rule serves any other dataset (a bird photo dropped on AwA2 gets CUB species).
    """
    return bool(out_for_current) and not bool(out_for_real)
