"""The client API's direct dispatch (``ClientDispatch``) answers exactly as the
router would: the same route for every operation, the router's 404 and 405 for
what no client route takes, the app's error answers, and the route template in
the metrics."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Match

from klatch import metrics
from klatch.http import client
from klatch.http.client.dispatch import ClientDispatch
from klatch.services.orgs import Setup
from support import error_codes


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _router_pick(method: str, path: str) -> object | None:
    """The client route Starlette's router answers with: the first that matches in full."""
    for route in client.routes:
        if route.matches(_scope(method, path))[0] is Match.FULL:
            return route
    return None


def test_every_operation_reaches_the_route_the_router_would_pick() -> None:
    picked: list[object] = []

    async def app(scope: object, receive: object, send: object) -> None:
        picked.append(None)  # fell through to the router

    dispatch = ClientDispatch(app, client.routes)
    for route in client.routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        for method in sorted(route.methods or ()):
            expected = _router_pick(method, path)
            found = [
                r
                for r in dispatch._by_method.get(method, ())
                if r.matches(_scope(method, path))[0] is Match.FULL
            ]
            assert found and found[0] is expected, (method, path)


async def test_a_method_no_route_takes_goes_on_to_the_router(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    """A client path with a method none of its routes takes is not answered by the
    dispatch: the router goes on past the partial match to the REST app, which has
    no such route either (404, as before the dispatch existed)."""
    key = setup.tracking_key.secret
    response = await http.request(
        "PUT", "/c/v1/conversations/abc", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["status"] == "404"


async def test_a_path_no_route_takes_is_the_routers_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/c/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["errors"][0]["status"] == "404"


async def test_errors_are_the_apps_error_answers(http: httpx.AsyncClient) -> None:
    response = await http.post("/c/v1/sessions", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert error_codes(response)


async def test_dispatched_requests_are_counted_under_their_template(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    key = setup.tracking_key.secret
    before = _requests("/c/v1/sessions", "POST", "201")
    for _ in range(3):
        response = await http.post("/c/v1/sessions", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 201
    assert _requests("/c/v1/sessions", "POST", "201") == before + 3


def _requests(route: str, method: str, status: str) -> float:
    for family in metrics.REGISTRY.collect():
        if family.name != "klatch_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels == {
                "route": route,
                "method": method,
                "status": status,
            }:
                return sample.value
    return 0.0
