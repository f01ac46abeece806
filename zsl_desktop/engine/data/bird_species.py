"""The built-in birds' species: distinct attribute combinations, the unseen ones composable, named.

Why apart from ``builtin_birds``: which species exist (and what they are called) is decided before
anything is drawn; ``builtin_birds`` draws their images and writes the CUB files. Species differ in at least
``MIN_DISTANCE`` attribute groups, and every attribute value an unseen species has appears in at least two
seen species: zero-shot recognition is solvable by composition, not by luck. Everything derives from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bird_attributes import COLORS, GROUPS

MIN_DISTANCE = 3  # species differ in at least this many attribute groups


@dataclass(frozen=True)
class BirdConfig:
    """How many species, unseen among them, images of each, and their size in pixels."""

    classes: int
    unseen: int
    per_class: int
    size: int


DEFAULT = BirdConfig(classes=50, unseen=10, per_class=60, size=256)
SMALL = BirdConfig(classes=8, unseen=2, per_class=10, size=64)


def config(small: bool = False) -> BirdConfig:
    """The sizes of the default or the small configuration."""
    return SMALL if small else DEFAULT


@dataclass(frozen=True)
class Species:
    name: str  # e.g. Red_crowned_Hookbill
    folder: str  # e.g. 001.Red_crowned_Hookbill (the CUB class name)
    values: dict  # attribute group -> value
    unseen: bool


@dataclass(frozen=True)
class SpeciesTable:
    """The species of one configuration, in class-id order (class id = index + 1)."""

    species: tuple[Species, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(s.folder for s in self.species)

    @property
    def unseen(self) -> tuple[int, ...]:
        """0-based indices of the unseen species."""
        return tuple(i for i, s in enumerate(self.species) if s.unseen)

    @property
    def seen(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.species) if not s.unseen)

    def composition_problems(self, min_support: int = 2) -> list[str]:
        """Each unseen attribute value that fewer than ``min_support`` seen species have."""
        problems = []
        for u in self.unseen:
            for group, value in self.species[u].values.items():
                support = sum(self.species[s].values[group] == value for s in self.seen)
                if support < min_support:
                    problems.append(f"{self.species[u].name}: {group}={value} in {support} seen species")
        return problems


# -- names ---------------------------------------------------------------------------
_NOUNS = {
    "cone": ("Finch", "Bunting", "Grosbeak"),
    "dagger": ("Dartbill", "Kingfisher", "Spearbill"),
    "hooked": ("Shrike", "Hookbill", "Falcon"),
    "needle": ("Hummer", "Sunbird", "Needlebill"),
}
_SIZES = GROUPS["size"]
_DESCRIPTIVE = {  # group -> value -> adjective (None: not a distinguishing word)
    "crown_color": {c: f"{c.capitalize()}_crowned" for c in COLORS},
    "wing_color": {c: f"{c.capitalize()}_winged" for c in COLORS},
    "throat_color": {c: f"{c.capitalize()}_throated" for c in COLORS},
    "breast_color": {c: f"{c.capitalize()}_breasted" for c in COLORS},
    "tail_shape": {"forked": "Fork_tailed", "rounded": "Round_tailed", "pointed": "Pin_tailed", "fan": "Fan_tailed"},
    "breast_pattern": {"spotted": "Spot_breasted", "striped": "Streak_breasted"},
    "wing_pattern": {"barred": "Bar_winged", "spotted": "Spot_winged"},
    "eye_ring": {"yes": "Spectacled"},
    "habitat": {"sky": "Cloud", "grass": "Meadow", "water": "Marsh", "branch": "Forest"},
    "leg_length": {"long": "Long_legged"},
}


def _noun(values) -> str:
    return _NOUNS[values["bill_shape"]][_SIZES.index(values["size"])]


def _name_species(all_values: list[dict], rng) -> list[str]:
    """Pronounceable descriptive names: the species' most distinguishing trait + a bill/size noun.

    The trait is the one fewest other species with the same noun share (ties broken by rng).
    """
    names, used = [], set()
    for values in all_values:
        noun = _noun(values)
        peers = [v for v in all_values if _noun(v) == noun and v is not values]
        options = []
        ranks = rng.permutation(len(_DESCRIPTIVE))
        for order, (group, word_of) in zip(ranks, _DESCRIPTIVE.items()):
            word = word_of.get(values[group])
            if word is not None:
                shared = sum(p[group] == values[group] for p in peers)
                options.append((shared, order, word))
        options.sort()
        words = [w for _, _, w in options]
        candidates = [f"{w}_{noun}" for w in words]
        candidates += [f"{a}_{b}_{noun}" for i, a in enumerate(words) for b in words[i + 1 :]]
        name = next(c for c in candidates if c not in used)
        used.add(name)
        names.append(name)
    return names


def species_table(small: bool = False, seed: int = 0) -> SpeciesTable:
    """The species of a configuration, without rendering anything.

    Seen species get balanced value columns (each value used about equally often,
    and at least twice); unseen species draw only from values the seen ones use,
    so every unseen value is supported by at least two seen species.
    """
    cfg = config(small)
    rng = np.random.default_rng([seed, 0x5EC1E5])
    n_seen = cfg.classes - cfg.unseen
    pools = {}
    for group, values in GROUPS.items():
        k = min(len(values), max(1, n_seen // 2))  # small configs use fewer values per group
        pools[group] = [values[i] for i in sorted(rng.choice(len(values), size=k, replace=False))]

    def distance(a, b):
        return sum(a[g] != b[g] for g in GROUPS)

    for _ in range(1000):
        columns = {g: rng.permutation(np.resize(pools[g], n_seen)).tolist() for g in GROUPS}
        seen = [{g: columns[g][i] for g in GROUPS} for i in range(n_seen)]
        if all(distance(a, b) >= MIN_DISTANCE for i, a in enumerate(seen) for b in seen[i + 1 :]):
            break
    else:  # pragma: no cover - the retry loop always succeeds for these configurations
        raise RuntimeError("could not draw distinct seen species")
    unseen: list[dict] = []
    while len(unseen) < cfg.unseen:
        cand = {g: pools[g][int(rng.integers(len(pools[g])))] for g in GROUPS}
        if all(distance(cand, other) >= MIN_DISTANCE for other in seen + unseen):
            unseen.append(cand)

    order = rng.permutation(cfg.classes)  # interleave seen and unseen class ids
    everything = [(v, False) for v in seen] + [(v, True) for v in unseen]
    ordered = [everything[i] for i in order]
    names = _name_species([v for v, _ in ordered], rng)
    table = SpeciesTable(
        tuple(
            Species(name=name, folder=f"{i + 1:03d}.{name}", values=dict(values), unseen=is_unseen)
            for i, (name, (values, is_unseen)) in enumerate(zip(names, ordered))
        )
    )
    problems = table.composition_problems()
    assert not problems, "unseen species not composable from seen ones: " + "; ".join(problems)
    return table
