"""The method a run trains, built from its config, or read back from a checkpoint, and the weights it saves."""

from __future__ import annotations

from zsl_desktop.engine.checkpoints import Checkpoint, CheckpointError
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import Method, ModelInfo

from .config import TrainConfig


def build_method(dataset: Dataset, features: FeatureSource, config: TrainConfig) -> Method:
    cls = get_method(config.method)
    array = features.grid if cls.feature_kind == "grid" else features.pooled
    if array is None:
        raise ValueError(
            f"{cls.title or cls.name} needs {cls.feature_kind} features, which {dataset.name} does not have"
            + (
                " (feature-only datasets carry pooled vectors; attention methods need images)"
                if cls.feature_kind == "grid"
                else ""
            )
        )
    info = ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind=cls.feature_kind,
        channels=int(array.shape[1]),
        grid_size=tuple(int(s) for s in array.shape[2:]) if cls.feature_kind == "grid" else None,
    )
    return cls(info, config.hparams)


def method_from_checkpoint(checkpoint: Checkpoint) -> Method:
    """The method a checkpoint holds; a header or weights that do not fit raise CheckpointError naming the file."""
    h = checkpoint.header
    try:
        cls = get_method(h["method"])
        info = ModelInfo(
            attribute_names=tuple(h["attribute_names"]),
            num_classes=len(h["class_names"]),
            feature_kind=h["feature_kind"],
            channels=int(h["channels"]),
            grid_size=tuple(h["grid_size"]) or None,
        )
        method = cls(info, h.get("hparams", {}))
        method.load_state_dict(checkpoint.state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, KeyError) and isinstance(detail, str) and detail in _HEADER_FIELDS:
            detail = f"the header has no {detail!r}"
        raise CheckpointError(f"{checkpoint.path or 'checkpoint'}: cannot be used: {detail}") from None
    return method


_HEADER_FIELDS = ("method", "attribute_names", "class_names", "feature_kind", "channels", "grid_size")


def inference_state(method: Method) -> dict:
    """The weights without optimiser state: what a finished checkpoint needs (a third of the size)."""
    return {k: v for k, v in method.state_dict().items() if not k.startswith("optim.")}
