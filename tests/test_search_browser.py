"""The search box in a real browser (headless Chromium): suggestions as a researcher types, and the results page.

Screenshots are kept in tests/artifacts/ (search-suggest.png, search-results.png).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # drives headless Chromium


def test_the_search_box_suggests_as_you_type_and_opens_the_pick(served_store, visit):
    visit.page.goto(f"{served_store}/")
    box = visit.page.locator("header.site input[name=q]")
    box.click()
    box.press_sequentially("fibro", delay=40)

    visit.page.locator('header.site ul.suggestions[data-query="fibro"]').wait_for(state="attached")  # not an earlier prefix's
    first = visit.page.locator("header.site ul.suggestions li").first
    first.wait_for()
    assert first.locator("a").inner_text() == "fibromyalgia"
    assert first.locator(".suggestion-kind").inner_text() == "Condition"
    assert box.get_attribute("aria-expanded") == "true"
    visit.screenshot("search-suggest")

    assert box.get_attribute("aria-activedescendant") is None  # nothing highlighted yet
    box.press("ArrowDown")
    assert first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")  # what a screen reader reads
    box.press("ArrowDown")
    second = visit.page.locator("header.site ul.suggestions li").nth(1)
    assert box.get_attribute("aria-activedescendant") == second.get_attribute("id") != first.get_attribute("id")
    assert second.get_attribute("aria-selected") == "true" and first.get_attribute("aria-selected") == "false"
    box.press("ArrowUp")
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    box.press("Enter")
    visit.page.wait_for_url(f"{served_store}/id/fibromyalgia")
    assert visit.page.locator("h1").first.inner_text().lower().startswith("fibromyalgia")
    assert visit.foreign_requests(served_store) == []
    assert visit.errors == []


def test_enter_in_the_search_box_lists_the_hits_with_their_words_marked(served_store, visit):
    visit.page.goto(f"{served_store}/ontology")
    box = visit.page.locator("header.site input[name=q]")
    box.fill("Cochrane")
    box.press("Enter")
    visit.page.wait_for_url(f"{served_store}/search?q=Cochrane")

    hits = visit.page.locator("ol.search-hits li.search-hit")
    assert hits.count() >= 3
    top = hits.first
    assert top.get_attribute("data-iri") == "https://w3id.org/ldn-kg/id/source/parker-2018"
    assert top.locator(".hit-kind").inner_text() == "Systematic review article"
    assert top.locator(".hit-snippet mark").first.inner_text() == "Cochrane"
    visit.screenshot("search-results")

    visit.page.locator("p.search-kinds a", has_text="Evidence claim").click()
    visit.page.wait_for_url(lambda url: "type=" in url and url.endswith("EvidenceClaim"))
    assert visit.page.locator("ol.search-hits li.search-hit").count() >= 1
    assert all(kind == "Evidence claim" for kind in visit.page.locator(".hit-kind").all_inner_texts())

    top_link = visit.page.locator("ol.search-hits li.search-hit a.hit-label").first
    top_link.click()
    visit.page.wait_for_url(lambda url: "/id/claim/" in url)
    assert visit.errors == []
    assert visit.foreign_requests(served_store) == []
