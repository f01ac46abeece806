"""The class editor's sliders: one per attribute, in collapsible groups, with a filter and a badge per group.

Why apart from the panel: the grid only shows values and reports moves (``edited``, ``released``); the
panel owns the draft, its undo history and the class library.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from zsl_desktop.app.search import matches
from zsl_desktop.app.widgets.attribute_slider import AttributeSlider
from zsl_desktop.app.widgets.collapsible import CollapsibleSection

EXPANDED_GROUPS = 2  # the first groups start open
BADGE_LEVEL = 0.25  # an attribute above this fraction of the scale counts as "on" in its group's badge


class AttributeGrid(QScrollArea):
    """Sliders of a dataset's attributes in sections by group (``sections``).

    A section's sliders are made when it is first shown (expanded, or found by the filter) or one of them is
    asked for (``slider``; ``sliders`` makes them all): CUB's 312 took 0.2-0.3 s of the GUI thread as a
    dataset opened, and only the first groups start open (opening14). A dataset on the same attributes (in
    the same scale) keeps the sliders made for the last one.
    """

    edited = Signal(int, float)  # attribute index, value: while a slider moves
    released = Signal(int)  # attribute index: the end of a drag

    def __init__(self, parent=None):
        super().__init__(parent)
        self.made: dict[int, AttributeSlider] = {}  # the sliders made so far, by attribute index
        self.sections: dict[str, CollapsibleSection] = {}
        self.group_of: list[str] = []  # each attribute's group
        self.groups: dict[str, list[int]] = {}
        self.labels: list[str] = []  # each attribute's slider label
        self.search_texts: list[str] = []  # what the filter matches, per attribute
        self.attributes: tuple = ()  # the attributes and scale the sections were made for
        self.scale = (0.0, 1.0)
        self.values = np.zeros(0, np.float32)  # what the sliders show (and those not made yet will)
        self.filter_text = ""
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 6, 0)
        self.body_layout.setSpacing(0)
        self.body_layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(self.body)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def set_dataset(self, dataset, scale: tuple[float, float]) -> None:
        """A section per attribute group of ``dataset`` (None: none) in ``scale`` (lo, hi); their sliders as shown."""
        attributes = (tuple(dataset.attributes), tuple(scale)) if dataset is not None else ()
        if attributes and attributes == self.attributes:
            return  # the same sliders serve: their values follow with the editor's next ``show_values``
        for section in self.sections.values():
            section.setParent(None)
            section.deleteLater()
        self.made, self.sections, self.group_of, self.groups, self.attributes = {}, {}, [], {}, attributes
        self.labels, self.search_texts, self.filter_text = [], [], ""
        if dataset is None:
            self.values = np.zeros(0, np.float32)
            return
        self.scale = scale
        self.values = np.full(dataset.num_attributes, scale[0], np.float32)
        for a in dataset.attributes:
            self.labels.append(a.value.replace("_", " ") if a.group != "attributes" else a.label)
            self.search_texts.append(a.label.casefold())
        self.body.setUpdatesEnabled(False)
        groups = self.groups = dataset.attribute_groups()
        self.group_of = [""] * dataset.num_attributes
        for g, (group, indices) in enumerate(groups.items()):
            for i in indices:
                self.group_of[i] = group
            section = CollapsibleSection(group.replace("_", " "), self.body, expanded=g < EXPANDED_GROUPS)
            section.toggled.connect(lambda expanded, group=group: expanded and self.make_sliders(group))
            self.sections[group] = section
            self.body_layout.insertWidget(self.body_layout.count() - 1, section)
            if section.expanded:
                self.make_sliders(group)
        self.body.setUpdatesEnabled(True)

    def make_sliders(self, group: str) -> None:
        """The sliders of ``group``'s section, at the values shown and under the filter (once)."""
        section = self.sections[group]
        lo, hi = self.scale
        for i in self.groups[group]:
            if i in self.made:
                continue
            slider = AttributeSlider(i, self.labels[i], lo, hi, section.body)
            slider.search_text = self.search_texts[i]
            slider.set_value(float(self.values[i]))
            slider.setVisible(self.shown_by_filter(group, i))
            slider.edited.connect(self.edited)
            slider.released.connect(self.released)
            section.add_widget(slider)
            self.made[i] = slider

    def slider(self, index: int) -> AttributeSlider:
        """The slider of attribute ``index`` (its section's sliders are made if they were not)."""
        if index not in self.made:
            self.make_sliders(self.group_of[index])
        return self.made[index]

    @property
    def sliders(self) -> list[AttributeSlider]:
        """Every slider, by attribute index (all are made: scripts and tests)."""
        for group in self.groups:
            self.make_sliders(group)
        return [self.made[i] for i in range(len(self.group_of))]

    def show_values(self, values) -> None:
        """Every slider and badge at ``values`` (an undo, a reset, another class)."""
        self.values = np.array(values, np.float32)
        for i, s in self.made.items():
            s.set_value(float(self.values[i]))
        for group in self.sections:
            self.update_badge(group, self.values)

    def value_moved(self, index: int, values) -> None:
        """One attribute moved: its group's badge follows (the slider already shows the value)."""
        self.values = np.array(values, np.float32)
        self.update_badge(self.group_of[index], values)

    def update_badge(self, group: str, values) -> None:
        """ "n of m": how many of the group's attributes are clearly on."""
        section = self.sections.get(group)
        if section is None:
            return
        idx = self.groups.get(group, [])
        lo, hi = self.scale
        on = int(sum(values[i] > lo + BADGE_LEVEL * (hi - lo) for i in idx))
        section.badge.setText(f"{on} of {len(idx)}" if on else "")

    def shown_by_filter(self, group: str, index: int) -> bool:
        text = self.filter_text
        return not text or matches(text, group) or matches(text, self.search_texts[index])

    def filter(self, text: str) -> None:
        """Show the attributes whose words (or whose group's) begin with the words typed; list them from the top."""
        self.filter_text = text = text.strip()
        for group, section in self.sections.items():
            hits = [i for i in self.groups[group] if self.shown_by_filter(group, i)]
            if text and hits:
                self.make_sliders(group)
            for i in self.groups[group]:
                if i in self.made:
                    self.made[i].setVisible(i in hits)
            section.setVisible(bool(hits))
            if text and hits:
                section.set_expanded(True)
        self.verticalScrollBar().setValue(0)

    def expand_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(True)

    def collapse_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(False)
