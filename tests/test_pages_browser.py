"""The pages in a real browser (headless Chromium): the home page's evidence map, a claim's source links, and
a page whose data is written to look like HTML, which must stay text and run nothing.

Screenshots are kept in tests/artifacts/ (home.png, claim.png, hostile-claim.png) for people to look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import test_pages
from test_pages import HOSTILE_PAGES, IMG, SCRIPT, path_of

pytestmark = pytest.mark.slow  # drives headless Chromium

if TYPE_CHECKING:
    from playwright.sync_api import Dialog

# The server whose data is written as HTML (the browser fixtures come from tests/browser.py via conftest).
hostile_server = test_pages.hostile_server


def test_the_home_page_draws_the_evidence_map(served_store, built_store, run_query, visit):
    cells = run_query(
        built_store,
        "SELECT DISTINCT ?c ?l WHERE { ?claim a ldn:EvidenceClaim ; ldn:aboutCondition ?c ; ldn:evidenceLevel ?l }",
    )

    visit.page.goto(f"{served_store}/")

    chart = visit.page.locator("svg.evidence-map")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 300
    assert visit.page.locator("svg.evidence-map g.cell").count() == len(cells)
    first_mark = visit.page.locator("svg.evidence-map a.mark circle").first
    assert first_mark.is_visible()
    assert visit.page.locator("svg.evidence-map g.legend circle").count() >= 1
    visit.screenshot("home")
    assert visit.foreign_requests(served_store) == []  # no CDN, no fonts from elsewhere
    assert visit.errors == []


def test_a_mark_of_the_evidence_map_leads_to_its_claim(served_store, visit):
    visit.page.goto(f"{served_store}/")
    single = visit.page.locator('svg.evidence-map a.mark[data-count="1"]').first
    href = single.get_attribute("href")

    single.click()

    visit.page.wait_for_url(f"{served_store}{href}")
    assert visit.page.locator("blockquote.article-text").is_visible()


def test_a_claim_page_links_to_its_sources_and_its_source_page(served_store, built_store, run_query, visit):
    claim = run_query(
        built_store,
        """SELECT ?claim ?source ?title ?doi ?pmid WHERE {
             ?claim a ldn:EvidenceClaim ; ldn:evidenceSource ?source . ?source rdfs:label ?title ; ldn:doi ?doi ; ldn:pmid ?pmid
           } ORDER BY ?claim LIMIT 1""",
    )[0]

    visit.page.goto(served_store + path_of(claim["claim"]))

    sources = visit.page.locator("ul.sources")
    assert sources.locator("a.doi").first.get_attribute("href") == f"https://doi.org/{claim['doi']}"
    assert sources.locator("a.pubmed").first.get_attribute("href") == f"https://pubmed.ncbi.nlm.nih.gov/{claim['pmid']}/"
    assert visit.page.locator("blockquote.article-text").is_visible()
    visit.screenshot("claim")

    sources.locator("a.source-page").first.click()

    visit.page.wait_for_url(served_store + path_of(claim["source"]))
    assert visit.page.locator("h1").inner_text() == claim["title"]
    assert visit.page.locator(f'tr.claim-row[data-claim="{claim["claim"]}"]').is_visible()
    assert visit.errors == []


def test_words_that_look_like_html_run_nothing_in_the_browser(hostile_server, visit):
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    visit.page.on("dialog", refuse)
    for path in HOSTILE_PAGES:
        visit.page.goto(hostile_server.base + path)
        visit.page.wait_for_load_state("load")
        assert visit.page.locator("img").count() == 0, path
    visit.page.goto(hostile_server.base + "/id/claim/hostile")

    assert visit.page.locator("blockquote.quotation").inner_text() == SCRIPT
    assert visit.page.locator("blockquote.article-text").inner_text() == f"{IMG} said the article, then {SCRIPT}"
    visit.screenshot("hostile-claim")
    assert dialogs == []
    assert visit.errors == []
