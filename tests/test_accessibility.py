"""axe-core finds no violation on any page a person goes through, at a desktop's and a
phone's size, in light and dark mode.

axe is injected through Playwright (the page's Content-Security-Policy allows no inline
script, and stays so); the embedded AWS holds an upload, then a conversion, mid-way, so the
pages in between are checked without racing them.
"""

import pytest

from support import SIZES, photo_bytes, sized_page, violations

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES)
def test_no_page_has_an_accessibility_violation(browser, live_site, files, size, scheme):
    page = sized_page(browser, live_site.url, size, scheme)
    context = page.context
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
