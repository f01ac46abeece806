"""What a built-in bird can be: its attribute groups and their values, and CUB's 15 parts.

Why a module of its own: the species table, the CUB files and the drawing all speak this vocabulary, and
choosing species needs no drawing code.
"""

from __future__ import annotations

COLORS = ("red", "orange", "yellow", "blue", "brown", "grey", "black", "white")

#: attribute group -> its values; each image has exactly one value per group.
GROUPS: dict[str, tuple[str, ...]] = {
    "bill_shape": ("cone", "dagger", "hooked", "needle"),
    "bill_length": ("short", "long"),
    "crown_color": COLORS,
    "eye_ring": ("yes", "no"),
    "throat_color": COLORS,
    "breast_color": COLORS,
    "breast_pattern": ("solid", "spotted", "striped"),
    "wing_color": COLORS,
    "wing_pattern": ("solid", "barred", "spotted"),
    "tail_shape": ("forked", "rounded", "pointed", "fan"),
    "leg_length": ("short", "long"),
    "size": ("small", "medium", "large"),
    "habitat": ("sky", "grass", "water", "branch"),
}

#: the 15 CUB-200-2011 parts, in CUB's id order (id = index + 1).
PART_NAMES = (
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left eye",
    "left leg",
    "left wing",
    "nape",
    "right eye",
    "right leg",
    "right wing",
    "tail",
    "throat",
)
