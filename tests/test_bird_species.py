"""The built-in birds' species (``data/bird_species.py``): distinct, named, the unseen composable from the seen."""

import re

from zsl_desktop.engine.data.bird_attributes import GROUPS
from zsl_desktop.engine.data.bird_species import species_table


def test_species_table_default_is_composable():
    for seed in (0, 1, 2):
        table = species_table(small=False, seed=seed)
        assert len(table.species) == 50 and len(table.unseen) == 10
        combos = {tuple(s.values[g] for g in GROUPS) for s in table.species}
        assert len(combos) == 50
        assert len({s.name for s in table.species}) == 50
        for s in table.species:
            assert set(s.values) == set(GROUPS) and all(s.values[g] in GROUPS[g] for g in GROUPS)
            assert re.fullmatch(r"[A-Z][a-z]+(_[A-Za-z]+)+", s.name)
        seen = [table.species[i] for i in table.seen]
        for u in table.unseen:
            for group, value in table.species[u].values.items():
                assert sum(s.values[group] == value for s in seen) >= 2, (table.species[u].name, group, value)
    assert species_table(seed=0) == species_table(seed=0)
    assert species_table(seed=0).classes != species_table(seed=1).classes


def test_species_table_small_is_composable():
    for seed in range(5):
        table = species_table(small=True, seed=seed)
        assert len(table.species) == 8 and len(table.unseen) == 2
        assert table.composition_problems() == []
