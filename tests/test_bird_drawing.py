"""One drawn bird (``data/bird_drawing.py``): parts lie on their drawn regions, colours land on their parts."""

import numpy as np
import pytest

from zsl_desktop.engine.data.bird_attributes import COLORS, GROUPS, PART_NAMES
from zsl_desktop.engine.data.bird_drawing import PALETTE, REGIONS, render_bird


def _random_attrs(rng):
    return {g: v[int(rng.integers(len(v)))] for g, v in GROUPS.items()}


_EXPECTED_REGION = {
    "back": {"body"},
    "beak": {"bill"},
    "belly": {"belly"},
    "breast": {"breast"},
    "crown": {"crown"},
    "forehead": {"crown"},
    "left eye": {"eye"},
    "right eye": {"eye"},
    "left leg": {"leg"},
    "right leg": {"leg"},
    "left wing": {"wing"},
    "right wing": {"wing"},
    "nape": {"head"},
    "tail": {"tail"},
    "throat": {"throat"},
}


def test_part_locations_lie_on_the_drawn_parts():
    names = {v: k for k, v in REGIONS.items()}
    rng = np.random.default_rng(11)
    for _ in range(40):
        bird = render_bird(_random_attrs(rng), rng, size=256, occluder_probability=0.0, with_labels=True)
        regions = np.asarray(bird.labels)
        s = bird.label_scale
        for (x, y, visible), part in zip(bird.parts, PART_NAMES):
            if not visible:
                continue
            assert 0 <= x < 256 and 0 <= y < 256
            window = regions[int(y * s) - 1 : int(y * s) + 2, int(x * s) - 1 : int(x * s) + 2]
            found = {names[int(v)] for v in window.ravel()}
            assert found & _EXPECTED_REGION[part], (part, found)
        visible = {p for (_, _, v), p in zip(bird.parts, PART_NAMES) if v}
        # Profile view: exactly one eye and one wing, on the side facing the viewer.
        assert len(visible & {"left eye", "right eye"}) == 1 and len(visible & {"left wing", "right wing"}) == 1
        beak_x, nape_x = bird.parts[PART_NAMES.index("beak")][0], bird.parts[PART_NAMES.index("nape")][0]
        facing_left = beak_x < nape_x
        assert ("left eye" in visible) == facing_left
        assert ("left wing" in visible) == facing_left
        x, y, w, h = bird.bbox
        for px, py, v in bird.parts:
            if v:
                assert x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1


def _nearest_colour(pixel):
    return min(COLORS, key=lambda c: sum((int(a) - b) ** 2 for a, b in zip(pixel, PALETTE[c])))


@pytest.mark.parametrize("colour", COLORS)
def test_crown_and_throat_pixels_have_their_colours(colour):
    rng = np.random.default_rng(COLORS.index(colour))
    others = [c for c in COLORS if c != colour]
    attrs = _random_attrs(rng)
    attrs.update(crown_color=colour, throat_color=others[0], wing_color=others[1], breast_color=others[2])
    bird = render_bird(attrs, rng, size=256, occluder_probability=0.0)
    pixels = np.asarray(bird.image)
    for part, expected in (("crown", colour), ("throat", others[0])):
        x, y, visible = bird.parts[PART_NAMES.index(part)]
        assert visible
        patch = pixels[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2].reshape(-1, 3).mean(axis=0)
        assert _nearest_colour(patch) == expected, (part, patch)


@pytest.mark.parametrize(
    "group,regions", [("crown_color", ["crown"]), ("throat_color", ["throat"]), ("breast_color", ["breast", "belly"])]
)  # the belly is a paler breast
def test_a_colour_attribute_paints_only_its_part(group, regions):
    """Changing one colour attribute changes the pixels of that part and (almost) nothing else."""
    attrs = {g: v[0] for g, v in GROUPS.items()}
    attrs.update(
        crown_color="red",
        throat_color="red",
        breast_color="red",
        wing_color="grey",
        breast_pattern="solid",
        eye_ring="no",
    )
    before = render_bird(attrs, np.random.default_rng(0), size=128, occluder_probability=0, with_labels=True)
    after = render_bird(dict(attrs, **{group: "blue"}), np.random.default_rng(0), size=128, occluder_probability=0)
    diff = np.abs(np.asarray(after.image, dtype=int) - np.asarray(before.image, dtype=int)).sum(axis=2) > 60
    part = np.isin(np.asarray(before.labels)[1::2, 1::2], [REGIONS[r] for r in regions])  # label map is 2x
    near = part.copy()  # the part grown by one pixel (anti-aliased edges)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
        near |= np.roll(np.roll(part, dy, axis=0), dx, axis=1)
    assert diff.sum() > 20
    assert near[diff].mean() > 0.95
