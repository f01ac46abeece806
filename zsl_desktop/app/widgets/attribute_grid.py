"""The class editor's sliders: one per attribute, in collapsible groups, with a filter and a badge per group.

Why apart from the panel: the grid only shows values and reports moves (``edited``, ``released``); the
panel owns the draft, its undo history and the class library.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from zsl_desktop.app.search import matches
from zsl_desktop.app.widgets.attribute_slider import AttributeSlider
from zsl_desktop.app.widgets.collapsible import CollapsibleSection

EXPANDED_GROUPS = 2  # the first groups start open
BADGE_LEVEL = 0.25  # an attribute above this fraction of the scale counts as "on" in its group's badge


class AttributeGrid(QScrollArea):
    """Sliders of a dataset's attributes (``sliders``, by attribute index) in sections by group (``sections``)."""

    edited = Signal(int, float)  # attribute index, value: while a slider moves
    released = Signal(int)  # attribute index: the end of a drag

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sliders: list[AttributeSlider] = []
        self.sections: dict[str, CollapsibleSection] = {}
        self.group_of: list[str] = []  # each attribute's group
        self.groups: dict[str, list[int]] = {}
        self.scale = (0.0, 1.0)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 6, 0)
        self.body_layout.setSpacing(0)
        self.body_layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(self.body)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def set_dataset(self, dataset, scale: tuple[float, float]) -> None:
        """One slider per attribute of ``dataset`` (None: none) in ``scale`` (lo, hi)."""
        for section in self.sections.values():
            section.setParent(None)
            section.deleteLater()
        self.sliders, self.sections, self.group_of, self.groups = [], {}, [], {}
        if dataset is None:
            return
        lo, hi = self.scale = scale
        self.body.setUpdatesEnabled(False)
        groups = self.groups = dataset.attribute_groups()
        for g, (group, indices) in enumerate(groups.items()):
            section = CollapsibleSection(group.replace("_", " "), self.body, expanded=g < EXPANDED_GROUPS)
            for i in indices:
                a = dataset.attributes[i]
                label = a.value.replace("_", " ") if a.group != "attributes" else a.label
                slider = AttributeSlider(i, label, lo, hi, section.body)
                slider.search_text = a.label.casefold()
                slider.edited.connect(self.edited)
                slider.released.connect(self.released)
                section.add_widget(slider)
                self.sliders.append(slider)
            self.sections[group] = section
            self.body_layout.insertWidget(self.body_layout.count() - 1, section)
        self.sliders.sort(key=lambda s: s.index)
        self.group_of = [""] * dataset.num_attributes
        for group, indices in groups.items():
            for i in indices:
                self.group_of[i] = group
        self.body.setUpdatesEnabled(True)

    def show_values(self, values) -> None:
        """Every slider and badge at ``values`` (an undo, a reset, another class)."""
        for s in self.sliders:
            s.set_value(float(values[s.index]))
        for group in self.sections:
            self.update_badge(group, values)

    def value_moved(self, index: int, values) -> None:
        """One attribute moved: its group's badge follows (the slider already shows the value)."""
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

    def filter(self, text: str) -> None:
        """Show the attributes whose words (or whose group's) begin with the words typed; list them from the top."""
        text = text.strip()
        for group, section in self.sections.items():
            hits = 0
            group_hit = matches(text, group)
            for s in section.findChildren(AttributeSlider):
                show = not text or group_hit or matches(text, s.search_text)
                s.setVisible(show)
                hits += show
            section.setVisible(hits > 0)
            if text and hits:
                section.set_expanded(True)
        self.verticalScrollBar().setValue(0)

    def expand_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(True)

    def collapse_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(False)
