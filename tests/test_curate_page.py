"""A curator adds a claim in the browser (headless Chromium): sign in, a form generated from the shapes, Check, Submit.

The story: a curator opens /curate, is refused with a wrong token and signed in with theirs;
fills the generated forms for a claim about fibromyalgia resting on a new study report (the
second form, drawn from shp:NewSourceForm) but leaves out the claim's stance; "Check" shows the violation beside the stance field; the curator
picks a stance, checks again (it conforms) and submits; the claim is then on the condition's
page and counted in the home page's evidence map. The token never appears in
a page or in the server's log, and the page runs only the server's own scripts (its
Content-Security-Policy allows no inline script). Another story changes a shape (a fixture
copy of shapes/ given a required property) and finds the form asking for it.

Another curator's claim rests on a source new to the store, filled in the second generated form
(shp:NewSourceForm and its nested reading) and submitted with the claim.

Then the curator opens the submission's page (its triples, as a table and as Turtle), retracts it
after a confirmation, and the claim is gone from the condition's page while the record stays, and
the list of submissions says it was retracted.

Screenshots: tests/artifacts/curate-form.png, curate-report.png, curate-submitted.png, curate-submission.png.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pytest
import test_pages
from browser import Visit
from rdflib import RDFS, SH, Graph, URIRef
from serving import fetch, serving
from test_pages import IMG, SCRIPT

hostile_server = test_pages.hostile_server  # the project's graph plus things whose words are HTML

LDN = "https://w3id.org/ldn-kg/ontology#"
KG = "https://w3id.org/ldn-kg/id/"
SHAPES = "https://w3id.org/ldn-kg/shapes#"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
LABEL = "A curator test claim: fibromyalgia, as the article reports it"
NEW_TITLE = "A test trial report of low-dose naltrexone for fibromyalgia"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SPARQL_JSON = "application/sparql-results+json"


@pytest.fixture
def curated(own_store: Path, sources_root: Path, tmp_path: Path, add_curator):
    """A server of its own (it is written to) and a curator's token."""
    token = add_curator("ada", "--store", own_store)
    log = tmp_path / "serve.log"
    with serving(own_store, sources_root, log) as running:
        yield running.base, token, log


def select(base: str, query: str) -> list[dict[str, str]]:
    reply = fetch(f"{base}/sparql", headers={"Accept": SPARQL_JSON}, params={"query": query})
    return [{name: cell["value"] for name, cell in row.items()} for row in reply.json()["results"]["bindings"]]


def fill_new_source(page) -> None:
    """The second form: a study report new to the store, with its DOI, PMID, journal and the curators' reading."""

    def source(path: str, control: str = ".editor"):
        return page.locator(f'#source-form [data-path="{path}"] {control}').first

    page.click("#new-source summary")
    source(LDN + "doi").wait_for()
    source(RDF_TYPE, "select.editor").select_option(LDN + "StudyReportArticle")  # the kind (the reading's is fixed)
    # the source's own title: a field of the form's root node (the reading, nested, has a name of its own)
    page.locator(f'#source-form form > shacl-node > shacl-property > [data-path="{RDFS_LABEL}"] .editor').fill(NEW_TITLE)
    source(LDN + "publicationYear").fill("2024")
    source(LDN + "doi").fill("10.1186/test-new-source-2024")
    source(LDN + "pmid").fill("99999998")
    source(LDN + "publishedIn").select_option(index=1)
    page.locator(f'#source-form [data-path="{LDN}hasReading"] [data-path="{RDFS_LABEL}"] .editor').first.fill(
        "The curators' reading of the test trial report")
    source(LDN + "interpretationOf").fill("Clinical trials for treatment of fibromyalgia")  # the article's words
    source(LDN + "assignsType").select_option(LDN + "StudyReportArticle")
    source(LDN + "coversCondition").select_option(KG + "fibromyalgia")


def map_count(base: str) -> int:
    """How many claims the home page's evidence map counts for fibromyalgia and clinical-study evidence."""
    home = fetch(f"{base}/", headers={"Accept": "text/html"}).text
    found = re.search(rf'data-condition="{KG}fibromyalgia" data-level="{LDN}ClinicalStudyEvidence" data-count="(\d+)"', home)
    return int(found.group(1)) if found else 0


def submitted_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def field(page, path: str, control: str = ".editor"):
    """The control of the form's field for a property (shacl-form draws it in its shadow root, which locators pierce)."""
    return page.locator(f'#claim-form [data-path="{path}"] {control}').first


# --- what the form reads, in-process ---------------------------------------------------------


def test_the_form_reads_the_stored_shapes_with_their_sh_in_values_labelled_and_only_the_claim_shape_targeted(app_base):
    reply = fetch(f"{app_base}/curate/shapes")
    assert reply.status == 200 and reply.content_type == "text/turtle"
    shapes = Graph().parse(data=reply.text, format="turtle")
    assert set(shapes.subjects(SH.targetClass, None)) == {URIRef(SHAPES + "EvidenceClaimShape")}
    assert not list(shapes.triples((None, SH.sparql, None)))  # left to the server's check
    assert shapes.value(URIRef(LDN + "Unsourced"), RDFS.label) is not None  # a value sh:in offers, by its label
    stance = next(shapes.subjects(SH.path, URIRef(LDN + "stance")))
    assert str(shapes.value(stance, SH.name)) == "stance" and shapes.value(stance, SH.order) is not None


def test_a_field_is_offered_the_individuals_of_its_class_and_nothing_else_is_served(app_base):
    reply = fetch(f"{app_base}/curate/instances", params={"class": LDN + "Condition"})
    assert reply.status == 200 and reply.content_type == "text/turtle"
    offered = Graph().parse(data=reply.text, format="turtle")
    assert str(offered.value(URIRef(KG + "fibromyalgia"), RDFS.label)) == "fibromyalgia"
    sources = Graph().parse(data=fetch(f"{app_base}/curate/instances", params={"class": LDN + "Source"}).text,
                            format="turtle")
    assert (URIRef(KG + "source/aitcheson-2023"), None, None) in sources  # a systematic review: a subclass's member
    for wrong in ("http://example.org/NotAFieldsClass", "not an IRI", "http://example.org/<x>"):
        refused = fetch(f"{app_base}/curate/instances", params={"class": wrong})
        assert refused.status == 400, wrong


def test_the_curators_name_is_told_only_for_a_curators_token(app_base):
    assert fetch(f"{app_base}/curate/me").status == 401
    assert fetch(f"{app_base}/curate/me", headers={"Authorization": "Bearer not-a-token"}).status == 403


# --- in the browser ------------------------------------------------------------------------


@pytest.mark.slow  # headless Chromium
def test_a_curator_signs_in_checks_a_claim_fixes_it_and_submits_it(curated, visit):
    base, token, log = curated
    page = visit.page
    page.goto(f"{base}/curate")
    field(page, LDN + "stance").wait_for()  # the form is generated once the shapes are read
    assert page.locator("#claim-form [data-path]").count() >= 10, "the form was not generated from the shapes"
    assert field(page, LDN + "stance", "label").inner_text() == "stance"  # the shape's sh:name

    page.fill("#token", "not-a-token")
    page.click("#sign-in-form button")
    page.locator("#sign-in-error", has_text="opens nothing").wait_for()
    page.fill("#token", token)
    page.click("#sign-in-form button")
    page.wait_for_selector("#signed-in:not([hidden])")
    assert page.locator("#curator-name").inner_text() == "ada" and page.locator("#submit").is_enabled()

    fill_new_source(page)
    field(page, RDFS_LABEL).fill(LABEL)
    field(page, LDN + "articleText").fill("Clinical trials for treatment of fibromyalgia were initiated in 2021.")
    field(page, LDN + "sourcingStatus").select_option(LDN + "Sourced")
    field(page, LDN + "aboutCondition").select_option(KG + "fibromyalgia")
    page.locator("#claim-form .shacl-or-constraint select").select_option(label="a dose regimen")  # the shape's sh:or
    field(page, LDN + "aboutIntervention").select_option(KG + "low-dose-naltrexone")
    field(page, LDN + "evidenceLevel").select_option(LDN + "ClinicalStudyEvidence")  # what a study report allows
    field(page, LDN + "claimYear").fill("2024")  # a claim citing a source has a year (the source's)
    field(page, LDN + "statedIn").select_option(KG + "source/wikipedia-low-dose-naltrexone")
    field(page, LDN + "claimedBy").select_option(KG + "wikipedia-contributors")
    field(page, LDN + "evidenceCode").select_option(LDN + "CuratorInferenceFromWikipedia")
    in_the_map = map_count(base)
    visit.screenshot("curate-form")

    page.click("#check")
    beside = page.locator(f'#claim-form [data-path="{LDN}stance"] ~ .kg-field-report').first
    beside.wait_for()
    assert "exactly one stance" in beside.inner_text() and beside.inner_text().startswith("Violation")
    assert "Does not conform" in page.locator("#report .kg-not-conforming").inner_text()
    visit.screenshot("curate-report")

    field(page, LDN + "stance").select_option(LDN + "Reports")
    page.click("#check")
    page.locator("#report .kg-conforms").wait_for()
    assert page.locator("#claim-form .kg-field-report").count() == 0

    page.click("#submit")
    submitted = page.locator("#report .kg-submitted a")
    submitted.wait_for()
    assert "/id/submission/" in submitted.get_attribute("href")
    claim_link = page.locator("#report .kg-claim-link a")
    assert claim_link.get_attribute("href").startswith("/id/claim/")
    claim_page = fetch(base + claim_link.get_attribute("href"), headers={"Accept": "text/html"})
    assert claim_page.status == 200 and LABEL in claim_page.text  # the page where the claim now appears
    visit.screenshot("curate-submitted")

    condition = fetch(f"{base}/id/fibromyalgia", headers={"Accept": "text/html"})
    assert condition.status == 200 and LABEL in condition.text
    assert map_count(base) == in_the_map + 1  # the evidence map counts it: fibromyalgia, clinical study
    cited = select(base, f"""SELECT ?doi WHERE {{ ?claim <{RDFS_LABEL}> "{LABEL}" ; <{LDN}evidenceSource> ?source ;
        <{LDN}aboutIntervention> <{KG}low-dose-naltrexone> .
        ?source a <{LDN}StudyReportArticle> ; <{LDN}doi> ?doi }}""")
    assert [row["doi"] for row in cited] == ["10.1186/test-new-source-2024"]  # the new source, with the claim

    submitted.click()  # the submission's page: who, the version, the triples it added
    page.locator("section.submission").wait_for()
    assert page.locator("section.submission .curator").inner_text() == "ada"
    added = page.locator("table.added-triples")
    assert added.locator(f'td .literal:has-text("{LABEL}")').count() == 1  # the label triple; its subject, by label
    claim_rows = added.locator(f'td:first-child a:has-text("{LABEL}")').count()
    source_rows = added.locator(f'td:first-child a:has-text("{NEW_TITLE}")').count()
    assert claim_rows >= 8 and source_rows >= 6 and added.locator("tbody tr").count() > claim_rows + source_rows
    assert LABEL in page.locator("pre.turtle").inner_text()
    visit.screenshot("curate-submission")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#retract")
    page.locator("p.retraction").wait_for()
    assert "Retracted by ada" in page.locator("p.retraction").inner_text()
    assert page.locator("table.added-triples").count() == 0  # the triples left; the record stays
    assert LABEL not in fetch(f"{base}/id/fibromyalgia", headers={"Accept": "text/html"}).text
    assert map_count(base) == in_the_map
    listing = fetch(f"{base}/curate/submissions")
    assert listing.status == 200 and "retracted" in listing.text and submitted_id(page.url) in listing.text
    for path in ("/curate", "/", "/id/fibromyalgia"):
        page_html = fetch(base + path, headers={"Accept": "text/html"})
        assert token not in page_html.text
        assert "script-src 'self';" in page_html.headers["content-security-policy"]
        assert "unsafe-inline" not in page_html.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert token not in log.read_text()
    assert visit.foreign_requests(base) == [] and visit.console_errors == [] and visit.page_errors == []
    assert visit.failed_loads == [f"403 {base}/curate/me"]  # the wrong token, refused


@pytest.mark.slow  # headless Chromium
def test_a_claim_comes_with_a_new_source_drawn_from_the_new_source_shape(curated, visit):
    """The source is new: its form (shp:NewSourceForm) gives its kind, title, year, DOI, PMID, journal and the reading."""
    base, token, _ = curated
    page = visit.page
    page.goto(f"{base}/curate")
    field(page, LDN + "stance").wait_for()
    page.fill("#token", token)
    page.click("#sign-in-form button")
    page.wait_for_selector("#signed-in:not([hidden])")
    fill_new_source(page)

    field(page, RDFS_LABEL).fill(f"A claim resting on a new trial report {SCRIPT}")  # words that look like HTML
    field(page, LDN + "articleText").fill("Clinical trials for treatment of fibromyalgia were initiated in 2021.")
    field(page, LDN + "stance").select_option(LDN + "Reports")
    field(page, LDN + "sourcingStatus").select_option(LDN + "Sourced")
    field(page, LDN + "aboutCondition").select_option(KG + "fibromyalgia")
    field(page, LDN + "evidenceLevel").select_option(LDN + "ClinicalStudyEvidence")
    field(page, LDN + "claimYear").fill("2024")
    field(page, LDN + "statedIn").select_option(KG + "source/wikipedia-low-dose-naltrexone")
    field(page, LDN + "claimedBy").select_option(KG + "wikipedia-contributors")
    field(page, LDN + "evidenceCode").select_option(LDN + "CuratorInferenceFromWikipedia")

    page.click("#check")
    page.locator("#report h3").wait_for()
    assert page.locator("#report .kg-conforms").count() == 1, page.locator("#report").inner_text()
    page.click("#submit")
    page.locator("#report .kg-submitted a").wait_for()

    sources = select(base, f"""SELECT ?source ?doi WHERE {{ ?claim <{RDFS_LABEL}> "A claim resting on a new trial report {SCRIPT}" ;
        <{LDN}evidenceSource> ?source . ?source a <{LDN}StudyReportArticle> ; <{LDN}doi> ?doi ;
        <{LDN}hasReading>/<{LDN}coversCondition> <{KG}fibromyalgia> }}""")
    assert [row["doi"] for row in sources] == ["10.1186/test-new-source-2024"]
    assert sources[0]["source"].startswith(KG + "source/")
    typed_by_form = f"ASK {{ ?node a <{SHAPES}NewSourceForm> }}"
    assert fetch(f"{base}/sparql", headers={"Accept": SPARQL_JSON}, params={"query": typed_by_form}).json()["boolean"] is False
    source_page = fetch(base + sources[0]["source"].removeprefix("https://w3id.org/ldn-kg"), headers={"Accept": "text/html"})
    assert source_page.status == 200 and NEW_TITLE in source_page.text

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.locator("#report .kg-submitted a").click()  # the submission's page shows the label as the text it is
    page.locator("table.added-triples").wait_for()
    assert page.locator(f'table.added-triples td .literal:has-text("{SCRIPT}")').count() == 1
    assert page.locator("table.added-triples script").count() == 0 and dialogs == []
    assert visit.console_errors == [] and visit.page_errors == []


@pytest.mark.slow  # headless Chromium
def test_the_generated_forms_headings_sit_under_the_pages_own(served_store, visit):
    """A screen reader's outline: the page's h1, its h2 sections, and the form's groups under them, never another h1."""
    page = visit.page
    page.goto(f"{served_store}/curate")
    field(page, LDN + "stance").wait_for()
    page.click("#new-source summary")
    page.locator('#source-form [data-path="' + LDN + 'doi"] .editor').first.wait_for()

    headings = [(int(level), name) for name, level in
                re.findall(r'heading "([^"]+)" \[level=(\d)\]', page.locator("main").aria_snapshot())]
    assert [name for level, name in headings if level == 1] == ["Add evidence"]
    assert {"What it is about": 3, "Its evidence": 3, "What is claimed": 3}.items() <= {
        name: level for level, name in headings}.items()
    assert "the curators' reading" in {name for level, name in headings if level > 2}  # the new source's nested form
    assert all(later <= earlier + 1 for (earlier, _), (later, _) in itertools.pairwise(headings))  # no level skipped
    assert visit.errors == []


@pytest.mark.slow  # headless Chromium
def test_without_script_the_page_says_how_to_check_and_submit_and_shows_no_dead_buttons(served_store, chromium):
    with Visit.open(chromium, java_script_enabled=False) as visit:
        page = visit.page
        page.goto(f"{served_store}/curate")
        notice = page.locator("#without-script")
        assert notice.is_visible()
        told = notice.inner_text()
        assert "needs JavaScript" in told and "kgserver validate" in told
        assert f"{served_store}/validate" in told and f"{served_store}/submissions" in told
        for button in ("#check", "#submit", "#check-rdf", "#submit-rdf"):
            assert page.locator(button).is_hidden(), button
    with Visit.open(chromium) as visit:  # with script, the buttons are there and the notice is not
        visit.page.goto(f"{served_store}/curate")
        assert visit.page.locator("#check").is_visible() and visit.page.locator("#check-rdf").is_visible()
        assert visit.page.locator("#without-script").count() == 0 or visit.page.locator("#without-script").is_hidden()


@pytest.mark.slow  # headless Chromium
def test_sign_out_forgets_the_token(curated, visit):
    base, token, _ = curated
    page = visit.page
    page.goto(f"{base}/curate")
    page.fill("#token", token)
    page.click("#sign-in-form button")
    page.wait_for_selector("#signed-in:not([hidden])")
    assert page.evaluate("() => Object.values(sessionStorage).includes(arguments[0])".replace("arguments[0]", repr(token)))

    page.click("#sign-out")
    assert page.locator("#sign-in").is_visible() and page.locator("#submit").is_disabled()
    assert page.evaluate("() => sessionStorage.length") == 0
    page.reload()
    assert page.locator("#sign-in").is_visible()


@pytest.mark.slow  # headless Chromium
def test_a_shape_given_a_required_property_makes_the_form_ask_for_it(sources_root, kgserver, tmp_path, visit):
    """Nothing but the shapes changes: the generated form has the new field, required, with its name and help.

    (A warning, so that the graph's own claims, which have no such note, still build.)
    """
    root = tmp_path / "sources"
    for folder in ("ontology", "graph", "shapes", "queries"):
        shutil.copytree(sources_root / folder, root / folder)
    shapes = root / "shapes" / "ldn-shapes.ttl"
    text = shapes.read_text(encoding="utf-8")
    extra = """    sh:property [
        sh:path ldn:reviewNote ; sh:name "review note"@en ; sh:description "What the reviewing curator noted."@en ;
        sh:order 2 ; sh:group shp:ClaimClaimedGroup ; sh:minCount 1 ; sh:datatype xsd:string ; sh:severity sh:Warning ;
        sh:message "A claim needs a review note." ] ;
    sh:property [
        sh:path rdfs:label ;"""
    marker = "    sh:property [\n        sh:path rdfs:label ;"
    assert text.count(marker) >= 1
    shapes.write_text(text.replace(marker, extra, 1), encoding="utf-8")
    store = tmp_path / "store"
    built = kgserver("build", "--store", store, root=root)
    assert built.returncode == 0, built.stderr
    with serving(store, root, tmp_path / "serve.log") as running:
        visit.page.goto(f"{running.base}/curate")
        label = field(visit.page, LDN + "reviewNote", "label")
        label.wait_for()
        assert label.inner_text() == "review note" and "required" in (label.get_attribute("class") or "")
        assert label.get_attribute("title") == "What the reviewing curator noted."


@pytest.mark.slow  # headless Chromium
def test_labels_that_look_like_html_are_text_in_the_form_and_the_report(hostile_server, visit):
    """A condition labelled `<script>...` and a source titled `"><img onerror>` are offered by their labels, as text."""
    dialogs: list[str] = []
    visit.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page = visit.page
    page.goto(f"{hostile_server.base}/curate")
    condition = field(page, LDN + "aboutCondition")
    condition.wait_for()
    offered = condition.locator(f'option[value="{KG}hostile-condition"]')
    assert offered.inner_text() == f"{SCRIPT} syndrome"
    source = field(page, LDN + "evidenceSource").locator(f'option[value="{KG}source/hostile-source"]')
    assert source.inner_text() == f"{IMG} title"

    condition.select_option(KG + "hostile-condition")
    field(page, RDFS_LABEL).fill(f"{SCRIPT} a label")
    page.click("#check")
    page.locator("#report li").first.wait_for()
    assert SCRIPT in page.locator("#report").inner_text()  # the claim's label, named in each result, as text
    assert page.locator("#report script, #report img, #claim-form img").count() == 0
    assert dialogs == [] and visit.console_errors == [] and visit.page_errors == []


BROKEN_TURTLE = """@prefix ldn: <https://w3id.org/ldn-kg/ontology#> .
@prefix kg: <https://w3id.org/ldn-kg/id/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
kg:claim-from-the-editor a ldn:EvidenceClaim ;
    rdfs:label "A claim typed by hand
    ldn:stance ldn:Reports .
"""


@pytest.mark.slow  # headless Chromium
def test_the_free_form_editor_names_the_line_of_a_syntax_error(curated, visit):
    """Turtle typed into the editor (line numbers, highlighting): Check names line 5 and marks it; fixed, it is checked."""
    base, _, _ = curated
    page = visit.page
    page.goto(f"{base}/curate")
    page.locator("#rdf .CodeMirror").wait_for()
    # The claim form above the editor is generated after the page loads and grows as its option lists
    # arrive; a click before it settles lands where the Check button was (CI saw that once: no request).
    field(page, LDN + "stance").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator("#rdf .CodeMirror-linenumber").count() >= 3
    page.evaluate("text => document.querySelector('#rdf .CodeMirror').CodeMirror.setValue(text)", BROKEN_TURTLE)
    assert page.locator("#rdf .cm-string").count() >= 1  # highlighted as Turtle

    page.click("#check-rdf")
    error = page.locator("#rdf-report .kg-syntax-error")
    error.wait_for()
    assert error.inner_text().startswith("Line 5:")
    assert page.locator("#rdf .kg-error-line").count() == 1
    assert page.locator("#rdf .kg-error-line .CodeMirror-linenumber").inner_text() == "5"
    assert page.locator("#rdf .kg-error-line pre.CodeMirror-line").inner_text().startswith('    rdfs:label "A claim typed')
    visit.screenshot("curate-editor-error")

    fixed = BROKEN_TURTLE.replace("typed by hand\n", 'typed by hand" ;\n')
    page.evaluate("text => document.querySelector('#rdf .CodeMirror').CodeMirror.setValue(text)", fixed)
    page.click("#check-rdf")
    page.locator("#rdf-report h3").wait_for()  # a report now, not the syntax error
    assert page.locator("#rdf .kg-error-line").count() == 0
    assert "exactly one stance" not in page.locator("#rdf-report").inner_text()  # the stance is there now
    assert "words of the article" in page.locator("#rdf-report").inner_text() or "articleText" in page.locator(
        "#rdf-report").inner_text()
    assert visit.console_errors == [] and visit.page_errors == []

    # the editor is no keyboard trap: Tab leaves it for the Check button, and it is labelled
    page.locator("#rdf .CodeMirror textarea").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "check-rdf"
    assert page.get_attribute("#rdf .CodeMirror textarea", "aria-labelledby") == "rdf-text-label"
