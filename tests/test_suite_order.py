"""The order xdist's ``--dist loadgroup`` receives the test files in (tests/suite_order.py): costliest groups first."""

import argparse
from pathlib import Path

import suite_order

ROOT = Path(__file__).resolve().parents[1]


class Item:
    """What ``group_and_order`` reads of a test: its fixtures, its file, its marks."""

    def __init__(self, path: str, fixtures=()):
        self.path, self.fixturenames, self.marks = ROOT / path, list(fixtures), []

    def add_marker(self, mark):
        self.marks.append(mark)


def ordered(items, loadgroup=True):
    config = argparse.Namespace(rootpath=ROOT, option=argparse.Namespace(loadgroup=loadgroup))
    suite_order.group_and_order(config, items)
    return [item.path.relative_to(ROOT).as_posix() for item in items]


def test_every_listed_costly_group_is_a_test_file():
    for group in suite_order.COSTLY_GROUPS:
        assert (ROOT / group).is_file(), f"{group} is gone: take it off COSTLY_GROUPS"


def test_the_drawn_birds_then_the_costly_groups_then_the_most_tests_go_first():
    many, few = "tests/test_classes.py", "tests/test_atomic.py"
    costly = suite_order.COSTLY_GROUPS
    items = [Item(few), Item(many), Item(many), Item(costly[1]), Item(costly[0])]
    items += [Item("tests/test_shipped_gsmflow.py", [suite_order.FRESH_BIRDS])]
    assert ordered(items) == ["tests/test_shipped_gsmflow.py", costly[0], costly[1], many, many, few]
    assert all(item.marks for item in items)  # each test carries its group


def test_without_xdist_the_collected_order_stays():
    paths = ["tests/test_atomic.py", suite_order.COSTLY_GROUPS[0]]
    assert ordered([Item(p) for p in paths], loadgroup=False) == paths
