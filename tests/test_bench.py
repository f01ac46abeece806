"""`zsl-desktop bench` keeps working: every section runs on tiny sizes and reports finite figures."""

import math

from zsl_desktop.bench.runner import Sizes, format_markdown, format_table, run
from zsl_desktop.engine.features import extract_all


def test_bench_sections_on_tiny_sizes(small_birds, tmp_path):
    features = extract_all(small_birds, root=tmp_path, input_size=64).source()
    heard, said = [], []
    rows = run(
        sizes=Sizes.tiny(),
        sections=["rescore", "extract", "train"],
        dataset=small_birds,
        features=features,
        real_cub=False,
        report=heard.append,
        say=said.append,
    )
    assert heard == rows and len(said) == 3  # each figure was reported as it was measured, each section announced
    sections = {r.section for r in rows}
    assert sections == {"rescore", "extract", "train"}
    from zsl_desktop.engine.methods import method_names

    for name in method_names():  # every method scores, the generative ones after a stand-in training
        assert any(r.name.startswith(f"{name} p95") and r.target == "<= 8" for r in rows), name
    assert any(r.section == "train" and r.name.startswith("msdn") for r in rows)
    for r in rows:
        assert math.isfinite(r.value) and r.value >= 0, r
    table = format_table(rows)
    assert "fraction of the compute bound" in table
    markdown = format_markdown(rows).splitlines()
    assert markdown[0] == "| section | measure | value | target |" and len(markdown) == len(rows) + 2


def test_bench_live_scores_while_training_on_tiny_sizes(small_birds, tmp_path):
    """Issue #19 item 3: the section trains MSDN beside the live jobs and reports each condition."""
    features = extract_all(small_birds, root=tmp_path, input_size=64).source()
    rows = run(
        sizes=Sizes.tiny(),
        sections=["livetrain"],
        dataset=small_birds,
        features=features,
        real_cub=False,
        methods=["msdn"],
    )
    names = [r.name for r in rows]
    assert any(n.startswith("msdn p95 while MSDN trains") for n in names)
    assert any("not deferring (before the fix)" in n for n in names) and any("no training" in n for n in names)
    assert all(math.isfinite(r.value) and r.value >= 0 for r in rows), rows
