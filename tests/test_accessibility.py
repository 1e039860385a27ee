"""axe-core finds no violation on any page a person goes through, at a desktop's and a
phone's size, in light and dark mode.

axe is injected through Playwright (the page's Content-Security-Policy allows no inline
script, and stays so); the embedded AWS holds an upload, then a conversion, mid-way, so the
pages in between are checked without racing them.
"""

from pathlib import Path

import pytest

from support import photo_bytes

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    rule: v.id, impact: v.impact, help: v.help,
    where: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


def violations(page) -> list[dict]:
    """Return what axe-core finds wrong with the page as it is now."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE)
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES)
def test_no_page_has_an_accessibility_violation(browser, live_site, files, size, scheme):
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=scheme,
        is_mobile=size == "phone",
        has_touch=size == "phone",
        base_url=live_site.url,
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    found = {}
    try:
        page.goto("/")
        page.set_input_files("#file", files("sunset.jpg", photo_bytes()))
        found["upload, a file chosen"] = violations(page)

        live_site.hold("upload")
        page.click("#upload-button")
        page.wait_for_selector(".progress-item progress")
        found["uploading"] = violations(page)

        live_site.hold("conversion")
        live_site.release("upload")
        page.wait_for_selector("#job.status-processing")
        found["converting"] = violations(page)

        live_site.release("conversion")
        page.wait_for_selector("#renditions img")
        found["done"] = violations(page)

        page.goto("/")
        page.set_input_files("#file", files("notes.jpg", b"these are words, not pixels"))
        page.click("#upload-button")
        page.wait_for_selector("#job.status-failed")
        found["failed"] = violations(page)

        page.goto("/jobs")
        found["history"] = violations(page)
    finally:
        live_site.release()
        context.close()
    assert {name: problems for name, problems in found.items() if problems} == {}
