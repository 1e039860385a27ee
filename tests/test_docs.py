"""The README is a front page, and every link in it and in docs/ leads somewhere that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """Return the anchors GitHub makes of a page's headings."""
    found = set()
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    sections = re.findall(r"^## (.+)$", readme, re.M)
    assert sections[:2] == ["Try it", "Troubleshooting"], sections
    assert "## How it works" in readme and "## Documentation" in readme


def test_the_readme_maps_every_page_of_docs():
    readme = (ROOT / "README.md").read_text()
    mapped = set(re.findall(r"\]\((docs/[^)#]+\.md)\)", readme))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages == mapped, f"not in the README's map: {pages - mapped}; gone: {mapped - pages}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_link_and_image_leads_somewhere(page):
    text = page.read_text()
    for target in _LINK.findall(text) + _IMAGE.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # another site: not checked offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such heading"


def test_the_troubleshooting_covers_a_restart_and_the_ports():
    readme = (ROOT / "README.md").read_text()
    trouble = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for case in ("PORT=", "LOCAL_AWS_PORT=", "TIME_WAIT", "Python 3.11"):
        assert case in trouble, case


def test_every_distribution_is_mit_licensed():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    for project in ROOT.glob("**/pyproject.toml"):
        if ".venv" in project.parts:
            continue
        assert re.search(r'^license = "MIT"$', project.read_text(), re.M), project


def test_the_readme_names_as_many_packages_as_the_run_lock_pins():
    import runpy

    progress = runpy.run_path(str(ROOT / "requirements" / "progress.py"))
    count = progress["locked"](ROOT / "requirements" / "run.txt")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"installs the {count} packages of `requirements/run.txt`" in readme


# The summary line bench.cost prints last; a check reads it.
COST_LINE = re.compile(
    r"^cost: \$\d+\.\d{3} per 1,000 conversions \(REST\), \$\d+\.\d{3} \(direct\), "
    r"\d+\.\d{2}x the naive baseline; reconciler: \d+ calls a run with 10 jobs kept, "
    r"\d+ with 10,000$"
)


def test_the_cost_page_quotes_the_benchs_figures_as_they_stand():
    bench = (ROOT / "bench" / "cost.md").read_text()
    page = (ROOT / "docs" / "cost.md").read_text()
    quoted = re.findall(r"<!-- figures: (\w+) -->\n(.*?)<!-- end -->", page, re.S)
    measured = dict(re.findall(r"<!-- figures: (\w+) -->\n(.*?)<!-- end -->", bench, re.S))
    assert [name for name, _ in quoted] == list(measured)  # every table, in the bench's order
    for name, block in quoted:
        assert block == measured[name], f"docs/cost.md's {name} differ from bench/cost.md's"
    summary = bench.rstrip().splitlines()[-1]
    assert COST_LINE.match(summary), summary
    assert f"```\n{summary}\n```" in page
