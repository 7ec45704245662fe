"""The curation routes: check an addition (/validate), submit it (/submissions), retract it.

A submission flows one way: the curator's bearer token, the body read within the limit and
parsed with nothing fetched, the check and the commit under the write lock
(kgserver.curation.submissions), then the answer. Reports are negotiated: JSON for
programs, a SHACL report in Turtle, or a page for people.

    curl -X POST -H 'Content-Type: text/turtle' --data-binary @addition.ttl http://127.0.0.1:8000/validate
    curl -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/turtle' \\
         --data-binary @addition.ttl http://127.0.0.1:8000/submissions
    curl -X DELETE -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/submissions/ID
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, render_template, request
from rdflib import Graph
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from kgserver import representations
from kgserver.config import ServerSettings, Settings
from kgserver.curation import payloads, reports, submissions
from kgserver.curation.budget import CheckBudget
from kgserver.curation.checks import Checker
from kgserver.curation.curators import Curator, Registry, agent_iri, authenticate
from kgserver.curation.engine_curators import open_registry
from kgserver.dataset import LiveDataset
from kgserver.sparql.scheduling import client_key
from kgserver.validation import ValidationReport
from kgserver.web.forwarding import Forwarder

_REALM = "LDN-KG curation"


def curation_blueprint(
    checker: Checker, dataset: LiveDataset, limits: ServerSettings, forwarder: Forwarder | None = None
) -> Blueprint:
    """/validate for anyone; /submissions for curators, kept beside the store or in the engine (or the writer's, forwarded)."""
    blueprint = Blueprint("curation", __name__)
    settings = checker.settings
    registry = open_registry(dataset.location, lambda: dataset.store)
    budget = CheckBudget(limits.check_budget)

    @blueprint.post("/validate")
    def validate() -> Response:
        """The report on an addition, always 200: nothing is stored, so nothing was refused."""
        form = representations.choose("reports", request.headers.get("Accept")).name
        with budget.spending(_client()):
            report = checker.check(dataset.store, _addition(settings, limits))
        return _report_response(report, form, 200, settings)

    @blueprint.post("/submissions")
    def submit() -> Response:
        """201 and the submission's address when the addition conforms; 422 and the report when it does not."""
        if forwarder is not None:
            return forwarder.forward(request)
        received = datetime.now(UTC)
        curator = _curator(registry)
        form = representations.choose("reports", request.headers.get("Accept")).name
        with budget.spending(_client()):
            outcome = submissions.submit(dataset, checker, curator.name, _addition(settings, limits), received)
        if isinstance(outcome, submissions.Rejected):
            return _report_response(outcome.report, form, 422, settings)
        iris = outcome.iris
        response = jsonify(
            submission=iris.activity,
            graph=iris.graph,
            record=iris.record,
            version=outcome.version,
            warnings=reports.warnings(outcome.report),
        )
        response.status_code = 201
        response.headers["Location"] = "/" + iris.activity.removeprefix(settings.base)
        return response

    @blueprint.get("/curate/me")
    def signed_in() -> Response:
        """The curator a bearer token names (401 without one, 403 for none): how the curators' page checks a token."""
        if forwarder is not None:
            return forwarder.forward(request)
        curator = _curator(registry)
        response = jsonify(curator=curator.name, agent=agent_iri(settings.base, curator.name))
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.delete("/submissions/<submission_id>")
    def retract(submission_id: str) -> Response:
        """Retract a submission: its triples leave the live dataset, its record stays."""
        if forwarder is not None:
            return forwarder.forward(request)
        curator = _curator(registry)
        outcome = submissions.retract(dataset, checker, curator.name, submission_id)
        iris = outcome.iris
        return jsonify(
            submission=iris.activity,
            retraction=iris.retraction,
            graph=iris.graph,
            record=iris.record,
            version=outcome.version,
        )

    return blueprint


def _client() -> str:
    """Whose checking this is: the curator's token, else the address and User-Agent (as for heavy queries)."""
    return client_key(request.remote_addr, request.user_agent.string, request.headers.get("Authorization"))


def _curator(registry: Registry) -> Curator:
    """The curator the bearer token names: 401 (with a challenge) without one, 403 for a token of no curator."""
    authorization = request.authorization
    if authorization is None or authorization.type != "bearer" or not authorization.token:
        raise Unauthorized(
            "send a curator's token as 'Authorization: Bearer TOKEN'",
            www_authenticate=WWWAuthenticate("bearer", {"realm": _REALM}),
        )
    return authenticate(registry, authorization.token)


def _addition(settings: Settings, limits: ServerSettings) -> Graph:
    """The addition in the request body: media type first, then the body within the limit, then a safe parse."""
    fmt = payloads.payload_format(request.content_type)
    body = payloads.read_body(request.stream, limits.max_request_bytes)
    return payloads.parse_payload(body, fmt, settings.base, limits.max_addition_triples)


def _report_response(report: ValidationReport, form: str, status: int, settings: Settings) -> Response:
    """The report in the negotiated form, with the status the route decided; the page names terms with the project's prefixes."""
    if form == "turtle":
        body = reports.to_graph(report).serialize(format="turtle", encoding="utf-8")
        response = Response(body, mimetype="text/turtle")
    elif form == "html":
        page = render_template("validation_report.html", page=reports.page(report, settings.prefixes), status=status)
        response = Response(page, mimetype="text/html")
    else:
        response = Response(reports.to_json(report) + "\n", mimetype="application/json")
    response.status_code = status
    response.vary.add("Accept")
    return response
