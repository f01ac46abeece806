"""The 200 CUB species that ship in resources/ (engine/real_birds.py), without the shared data."""

import numpy as np

from zsl_desktop.engine import real_birds


def test_the_species_are_offered_only_on_cubs_attributes():
    names, matrix = real_birds.species_for_attributes(real_birds.cub_attribute_names())
    assert len(names) == 200 and matrix.shape == (200, 312)
    assert names[16] == "017.Cardinal" and names[0] == "001.Black_footed_Albatross"
    assert 0 <= matrix.min() and matrix.max() <= 100 and np.isfinite(matrix).all()
    red = real_birds.cub_attribute_names().index("has_crown_color::red")
    assert matrix[16, red] > 50  # a cardinal's crown is red
    none, empty = real_birds.species_for_attributes(("has_bill_shape::cone", "has_size::small"))
    assert none == () and empty.shape == (0, 2)
