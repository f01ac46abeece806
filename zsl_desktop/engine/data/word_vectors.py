"""Word vectors for attribute names (the ``V`` that MSDN-style methods start from).

Two sources:

- **Real vectors** for the three benchmark vocabularies (CUB 312, AwA2 85,
  SUN 102 attributes): the 300-d vectors DAZLE, TransZero and MSDN use, i.e.
  the sum of ``word2vec-google-news-300`` vectors over the cleaned words of
  each attribute name (hbdat/cvpr20_DAZLE ``w2v/{DS}_attribute.pkl``, stored
  here as plain ``.npy`` so nothing needs unpickling). They live in
  ``resources/vocabularies/{DS}_attribute_w2v.npy`` with the names, one
  ``id name`` per line, in ``{DS}_attributes.txt`` (AwA2's is its
  ``predicates.txt``).
- **Hashed words (fallback)** for any other vocabulary: each name is split
  into words, every word gets a fixed pseudo-random Gaussian vector seeded by
  a stable hash of the word (``hashlib``, so it is the same in every process
  and on every machine), and the attribute vector is their sum. Like the real
  sum-of-word2vec vectors, attributes that share words (same group, same
  colour) come out similar; unlike them, synonyms do not.

Names match a real vocabulary tolerantly: case, a leading ``has_`` and all
punctuation are ignored (``has_bill_shape::curved_(up_or_down)`` equals
``bill shape: curved (up or down)``). A list that is the whole vocabulary in
the same order gets it as is; a list whose every name is in one vocabulary
(a subset or a reordering) gets the matching rows.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Sequence

import numpy as np

from zsl_desktop.engine.paths import resources_dir

VOCABULARIES = ("CUB", "AWA2", "SUN")
FALLBACK_SOURCE = "hashed words (fallback)"

# Words that carry no meaning in attribute names; dropped by the fallback only.
_STOP_WORDS = frozenset({"has", "a", "an", "the", "of", "or", "and", "to", "in", "on", "is"})


def _vocabulary_dir():
    return resources_dir() / "vocabularies"


def name_key(name: str) -> str:
    """Canonical form for matching: lower case, no leading ``has_``, words joined by single spaces."""
    text = str(name).strip().lower()
    if text.startswith("has_"):
        text = text[4:]
    return " ".join(re.findall(r"[a-z0-9]+", text))


def name_words(name: str) -> list[str]:
    """The words of an attribute name: ``has_wing_color::blue`` -> ``['wing', 'color', 'blue']``."""
    words = [w for w in name_key(name).split() if w not in _STOP_WORDS]
    return words or name_key(name).split() or [str(name)]


@functools.lru_cache(maxsize=None)
def load_vocabulary(key: str) -> tuple[tuple[str, ...], np.ndarray] | None:
    """(names, float32 [A, 300] vectors) of one real vocabulary, or None when its files are missing."""
    folder = _vocabulary_dir()
    names_path, vectors_path = folder / f"{key}_attributes.txt", folder / f"{key}_attribute_w2v.npy"
    if not (names_path.is_file() and vectors_path.is_file()):
        return None
    names = []
    for line in names_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            parts = line.strip().split(None, 1)
            names.append(parts[1].strip() if len(parts) == 2 and parts[0].isdigit() else line.strip())
    vectors = np.load(vectors_path, allow_pickle=False).astype(np.float32)
    if vectors.shape[0] != len(names):
        raise ValueError(f"{vectors_path}: {vectors.shape[0]} vectors for {len(names)} names in {names_path}")
    vectors.setflags(write=False)
    return tuple(names), vectors


def _match(attribute_names: Sequence[str], dim: int) -> tuple[np.ndarray, str] | None:
    keys = [name_key(n) for n in attribute_names]
    for vocab in VOCABULARIES:
        loaded = load_vocabulary(vocab)
        if loaded is None:
            continue
        names, vectors = loaded
        if vectors.shape[1] != dim:
            continue
        vocab_keys = [name_key(n) for n in names]
        if keys == vocab_keys:
            return vectors.copy(), f"word2vec ({vocab})"
        position = {k: i for i, k in enumerate(vocab_keys)}
        if len(position) == len(vocab_keys) and all(k in position for k in keys):
            return vectors[[position[k] for k in keys]].copy(), f"word2vec ({vocab}, {len(keys)} of {len(names)})"
    return None


def word_vector(word: str, dim: int = 300, seed: int = 0) -> np.ndarray:
    """A fixed Gaussian vector for one word, N(0, 1/dim) per entry (norm about 1).

    The randomness is SHAKE-256 of ``seed`` and the word, turned into normals
    by Box-Muller: no RNG library is involved, so the vector is the same on
    every machine and with every NumPy version.
    """
    pairs = (dim + 1) // 2
    raw = hashlib.shake_256(f"zsl-desktop/word/{seed}\x00{word}".encode("utf-8")).digest(16 * pairs)
    bits = np.frombuffer(raw, dtype="<u8").reshape(pairs, 2)
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)  # in (0, 1)
    radius = np.sqrt(-2.0 * np.log(uniform[:, 0]))
    angle = 2.0 * np.pi * uniform[:, 1]
    normal = np.stack((radius * np.cos(angle), radius * np.sin(angle)), axis=1).reshape(-1)[:dim]
    return (normal / np.sqrt(dim)).astype(np.float32)


def hashed_attribute_vectors(attribute_names: Sequence[str], dim: int = 300, seed: int = 0) -> np.ndarray:
    """The fallback: per attribute, the sum of its words' hashed vectors. float32 [A, dim]."""
    out = np.zeros((len(attribute_names), dim), np.float32)
    for i, name in enumerate(attribute_names):
        for word in name_words(name):
            out[i] += word_vector(word, dim, seed)
    return out


def attribute_vectors(attribute_names: Sequence[str], dim: int = 300, seed: int = 0) -> tuple[np.ndarray, str]:
    """float32 [A, dim] vectors for the names, and where they came from.

    The real word2vec vectors when the names are a known vocabulary (source
    ``"word2vec (CUB)"`` and the like), otherwise the seeded hashed-word
    fallback (source ``"hashed words (fallback)"``; ``seed`` only affects it).
    """
    names = [str(n) for n in attribute_names]
    if names:
        matched = _match(names, dim)
        if matched is not None:
            return matched
    return hashed_attribute_vectors(names, dim, seed), FALLBACK_SOURCE
