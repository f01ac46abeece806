"""Which model predicts a loose photo (engine/session/photo_routing.py), on stand-ins: no Qt, no backbone."""

from types import SimpleNamespace

import numpy as np

from zsl_desktop.engine import out_of_domain as ood
from zsl_desktop.engine.real_birds import TITLE, RealBirdModel
from zsl_desktop.engine.session import photo_routing
from zsl_desktop.engine.session.results import ClassSet, LiveRequest, LiveScores, LooseItem

D = 8


def around(direction: int, n: int, seed: int) -> np.ndarray:
    """``n`` features close to the unit vector ``direction`` (cosine distance well under 0.1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.05, size=(n, D)).astype(np.float32)
    x[:, direction] += 1.0
    return x


class DotProduct:
    """A method stand-in: codes are the features, scores their dot products with the class rows."""

    def encode(self, features):
        return np.asarray(features, np.float32)

    def score(self, codes, rows):
        return np.asarray(codes, np.float32) @ np.asarray(rows, np.float32)[:, :D].T


class FakeSession:
    """What PhotoRouting reads of a Session: the dataset size, the loose photos, the active model."""

    def __init__(self, photos: dict):
        self.dataset = SimpleNamespace(num_samples=2)
        self.features = None
        self.backbone, self.input_size = "efficientnet_lite0", 224
        self.loose = SimpleNamespace(
            items=[LooseItem(p, p) for p in photos], rows=lambda kind, items: np.stack([photos[i.path] for i in items])
        )
        self.state = SimpleNamespace(header={"seed": 0}, gamma=0.5)

    def active(self):
        return self.state


def routed(monkeypatch, photo: np.ndarray, mine: np.ndarray | None = None) -> LiveScores:
    drawings = ood.DomainReference(ood.unit_rows(around(0, 40, 1)), threshold=0.2)  # the active model's domain
    birds = ood.DomainReference(ood.unit_rows(around(1, 40, 2)), threshold=0.2)  # the real-bird model's
    species = np.eye(3, D, dtype=np.float32)
    real = RealBirdModel(
        DotProduct(),
        {"gamma": 2.0, "backbone": "efficientnet_lite0", "input_size": 224},
        ("a", "b", "c"),
        species,
        ("seen", "unseen", "unseen"),
        birds,
        None,
    )
    monkeypatch.setattr(photo_routing.ood, "reference_for_dataset", lambda dataset, features, seed: drawings)
    monkeypatch.setattr(photo_routing, "load_real_bird_model", lambda: real)
    session = FakeSession({"photo.jpg": photo})
    classes = ClassSet(("x", "y"), ("seen", "unseen"), np.zeros((2, D), np.float32))
    live = LiveScores(2, classes.names, classes.kinds, np.array([0.1, 0.2], np.float32), None, None)
    mine = (
        np.linspace(0, 1, D, dtype=np.float32)[None] if mine is None else mine
    )  # the user's class on CUB's attributes
    return photo_routing.PhotoRouting().route(
        session, LiveRequest(2, classes, 0, real_bird_classes=(("mine",), mine)), live
    )


def test_a_photo_like_the_training_images_stays_with_the_active_model(monkeypatch):
    live = routed(monkeypatch, around(0, 1, 5)[0])
    assert live.predicted_by == "" and not live.out_of_domain and live.class_names == ("x", "y")


def test_a_photo_outside_the_active_models_domain_and_inside_the_real_bird_models_goes_there(monkeypatch):
    live = routed(monkeypatch, around(1, 1, 6)[0])
    assert live.predicted_by == TITLE and not live.out_of_domain
    assert live.class_names == ("a", "b", "c", "mine") and live.class_kinds == ("seen", "unseen", "unseen", "user")
    assert live.scores.shape == (4,) and int(np.argmax(live.scores[:3])) == 1  # the species it lies beside
    assert live.gamma_offset == 2.0 - 0.5


def test_the_real_bird_model_leaves_out_a_user_class_with_no_attribute_information(monkeypatch):
    live = routed(monkeypatch, around(1, 1, 6)[0], mine=np.full((1, D), 0.5, np.float32))
    assert live.predicted_by == TITLE and live.class_names == ("a", "b", "c") and live.scores.shape == (3,)


def test_a_photo_outside_both_domains_stays_with_the_active_model_and_is_warned(monkeypatch):
    live = routed(monkeypatch, around(2, 1, 7)[0])
    assert live.predicted_by == "" and live.out_of_domain and live.class_names == ("x", "y")
