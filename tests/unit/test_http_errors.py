"""The app-level error handlers: whatever Flask, Werkzeug or a crash produce answers JSON."""

from __future__ import annotations

import flask
import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from shared.http_api import ROUTES, register_json_errors


@pytest.fixture
def client() -> flask.testing.FlaskClient:
    app = flask.Flask("errors")

    @app.route("/robots.txt")
    def robots() -> str:  # what functions-framework does for /robots.txt and /favicon.ico
        flask.abort(404, description="Not Found")

    @app.route("/crash")
    def crash() -> str:
        raise RuntimeError("boom: a secret detail")

    @app.route("/huge", methods=["POST"])
    def huge() -> str:
        raise RequestEntityTooLarge()

    register_json_errors(app.errorhandler)
    return app.test_client()


def test_framework_404_is_json(client: flask.testing.FlaskClient) -> None:
    response = client.get("/robots.txt")
    assert (response.status_code, response.mimetype) == (404, "application/json")
    assert response.get_json()["error"] == {
        "code": "not_found",
        "message": "no route /robots.txt",
        "field": None,
    }


def test_framework_405_is_json_with_allow(client: flask.testing.FlaskClient) -> None:
    response = client.delete("/crash")
    assert (response.status_code, response.mimetype) == (405, "application/json")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_a_crash_is_json_without_details(client: flask.testing.FlaskClient) -> None:
    response = client.get("/crash")
    assert (response.status_code, response.mimetype) == (500, "application/json")
    assert response.get_json()["error"]["code"] == "internal"
    assert "secret" not in response.get_data(as_text=True)


def test_other_http_errors_keep_their_status(client: flask.testing.FlaskClient) -> None:
    response = client.post("/huge")
    assert (response.status_code, response.mimetype) == (413, "application/json")
    assert response.get_json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/tasks", ("post_task", {})),
        ("POST", "/tasks/", ("post_task", {})),
        ("GET", "/tasks/abc", ("get_task", {"task_id": "abc"})),
        ("HEAD", "/health", ("health", {})),
        ("GET", "/openapi.json", ("openapi", {})),
        ("POST", "/", ("v2_execute", {})),
    ],
)
def test_routes(method: str, path: str, expected: tuple[str, dict[str, str]]) -> None:
    assert ROUTES.bind("ingest").match(path, method) == expected
