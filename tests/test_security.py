"""Refusals an attacker would try: forged tickets, missing CSRF tokens, spoofed hosts, leaks."""

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app

from support import SCRIPT, csrf_token, open_upload_page, upload_form

fuzzing = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TICKET_ROUTES = ["/jobs/{}", "/jobs/{}/status", "/jobs/{}/uploaded"]


def own_ticket(client) -> str:
    return open_upload_page(client).ticket


@fuzzing
@given(text=st.text(min_size=1, max_size=300).filter(lambda t: "/" not in t and t.strip()))
def test_made_up_tickets_never_crash_or_open_anything(client, text):
    for route in TICKET_ROUTES:
        response = client.get(route.format(text))
        assert response.status_code in (403, 404), (route, text)
        assert "renditions" not in response.get_data(as_text=True)


@fuzzing
@given(data=st.data())
def test_a_genuine_ticket_with_any_character_changed_is_refused(client, data):
    ticket = own_ticket(client)
    # Draws that do not depend on this ticket (its length varies), so every run draws alike.
    position = data.draw(st.integers(0, 10_000)) % len(ticket)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from(alphabet))
    if replacement == ticket[position]:  # always a change: the next character instead
        replacement = alphabet[(alphabet.index(replacement) + 1) % len(alphabet)]
    forged = ticket[:position] + replacement + ticket[position + 1 :]
    response = client.get(f"/jobs/{forged}/status")
    signed_text_unchanged = forged.rsplit(".", 1)[0] == ticket.rsplit(".", 1)[0]
    if signed_text_unchanged and decoded(forged) == decoded(ticket):
        # The signature's last character holds spare bits: the same signature, so accepted.
        # (Payload and timestamp are signed as text: any change there is refused.)
        assert response.status_code == 200
    else:
        assert response.status_code in (403, 404)


def decoded(ticket: str):
    try:
        return [
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in ticket.split(".")
        ]
    except ValueError:
        return None


def test_an_expired_ticket_is_refused_over_http(client, monkeypatch):
    import itsdangerous.timed

    ticket = own_ticket(client)
    later = itsdangerous.timed.time.time() + 8 * 24 * 3600
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    response = client.get(f"/jobs/{ticket}")
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)


def state_changing_rules(app):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    ]


def test_every_state_changing_request_without_a_csrf_token_is_refused(app, client):
    ticket = own_ticket(client)
    rules = state_changing_rules(app)
    assert {rule.endpoint for rule in rules} >= {"web.create_jobs", "web.delete"}
    for rule in rules:
        url = rule.rule.replace("<ticket>", ticket)
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            response = client.open(url, method=method, json={"count": 1}, headers=SCRIPT)
            assert response.status_code == 400, (method, url)
            assert response.get_json()["error"] == "FormExpired"
            assert (
                response.get_json()["message"] == "This page has expired. Reload it and try again."
            )


def test_every_kind_of_response_carries_the_security_headers(app, client):
    ticket = own_ticket(client)
    paths = [
        "/",
        "/jobs",
        "/healthz",
        f"/jobs/{ticket}",
        f"/jobs/{ticket}/status",
        "/jobs/forged",
        "/jobs/forged/status",
        "/nowhere",
        "/static/site.css",
    ]
    for path in paths:
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, path
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path


@pytest.fixture
def production(aws):
    return create_app({"SECRET_KEY": "s" * 48, "SITE_ORIGIN": "https://thumbs.example.org"})


def test_production_pins_hsts_secure_cookies_and_its_own_host(production):
    from app import infra
    from app.services import current_settings

    with production.app_context():
        settings = current_settings()
    infra.up(settings, log=lambda m: None)
    browser = production.test_client()
    response = browser.get("/", base_url="https://thumbs.example.org")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    _, fields = upload_form(response.get_data(as_text=True))
    assert dict(fields)["success_action_redirect"].startswith("https://thumbs.example.org/jobs/")
    spoofed = browser.get("/", base_url="https://evil.example.com")
    assert spoofed.status_code == 400  # no upload form that would send someone to evil.example.com


def test_redirects_never_leave_the_site(app, client):
    ticket = own_ticket(client)
    response = client.get(
        f"/jobs/{ticket}/uploaded?next=https://evil.example.com"
        "&success_action_redirect=//evil.example.com&bucket=b&key=k"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{ticket}"


def test_no_response_shows_a_traceback(app, client, monkeypatch):
    from app import web

    ticket = own_ticket(client)
    monkeypatch.setattr(web, "present", lambda *a: {}["boom"])
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for path in (f"/jobs/{ticket}", f"/jobs/{ticket}/status"):
        response = client.get(path)
        assert response.status_code == 500
        body = response.get_data(as_text=True)
        assert "Traceback" not in body and "KeyError" not in body and "boom" not in body


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"count": ' * 100_000 + "1" + "}" * 100_000,
        '{"count": 2, "more": ' + "[" * 11 + "]" * 11 + "}",
    ],
    ids=["a list 100,000 deep", "an object 100,000 deep", "12 levels"],
)
def test_json_nested_too_deeply_gets_a_400_with_a_message(app, client, body):
    """Even with the body limit raised to API Gateway's 10 MB, depth alone is refused."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: a RecursionError, a 500
    app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024
    token = csrf_token(client.get("/").get_data(as_text=True))
    headers = {"Content-Type": "application/json", "X-CSRFToken": token, **SCRIPT}
    response = client.post("/jobs", data=body, headers=headers)
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["message"]
    fine = client.post("/jobs", data='{"count": 1, "a": [[[]]]}', headers=headers)
    assert fine.status_code == 201


@pytest.mark.parametrize(
    "body",
    ['{"count": 1, "pad": "' + "x" * 70_000 + '"}', "[" * 100_000 + "]" * 100_000],
    ids=["long", "100,000 deep"],
)
def test_a_body_larger_than_any_form_gets_a_413_with_a_message(client, body):
    token = csrf_token(client.get("/").get_data(as_text=True))
    headers = {"Content-Type": "application/json", "X-CSRFToken": token, **SCRIPT}
    response = client.post("/jobs", data=body, headers=headers)
    assert response.status_code == 413 and response.get_json()["message"]


@pytest.mark.parametrize(
    ("origin", "base_url", "served"),
    [
        ("https://thumbs.example.org", "https://thumbs.example.org", True),
        ("https://thumbs.example.org", "https://thumbs.example.org:443", True),
        ("https://thumbs.example.org", "https://thumbs.example.org:8443", False),
        ("https://thumbs.example.org", "https://thumbs.example.org:80", False),
        ("https://thumbs.example.org:8443", "https://thumbs.example.org:8443", True),
        ("https://thumbs.example.org:8443", "https://thumbs.example.org", False),
        ("https://thumbs.example.org:443", "https://thumbs.example.org", True),
    ],
)
def test_a_host_on_another_port_than_site_origins_gets_a_400(aws, origin, base_url, served):
    """TRUSTED_HOSTS compares names only; the port is the origin's, or the scheme's default."""
    site = create_app({"SECRET_KEY": "s" * 48, "SITE_ORIGIN": origin})
    from app import infra
    from app.services import current_settings

    with site.app_context():
        infra.up(current_settings(), log=lambda m: None)
    response = site.test_client().get("/", base_url=base_url)
    if not served:
        assert response.status_code == 400
        assert "Unknown host" in response.get_data(as_text=True)
        return
    assert response.status_code == 200
    # Every absolute URL the page makes (the upload's signed redirect) is on the origin.
    _, fields = upload_form(response.get_data(as_text=True))
    redirect = dict(fields)["success_action_redirect"]
    assert redirect.startswith(origin.removesuffix(":443") + "/jobs/"), redirect


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("thumbs.example.org:443", 200),
        ("THUMBS.example.org", 400),  # browsers send host names in lower case
        ("thumbs.example.org:abc", 400),
        ("thumbs.example.org:", 400),
        ("thumbs.example.org:99999", 400),
        ("thumbs.example.org:8443", 400),
    ],
)
def test_a_host_header_is_judged_as_an_origin_never_with_a_500(aws, host, status):
    site = create_app({"SECRET_KEY": "s" * 48, "SITE_ORIGIN": "https://thumbs.example.org"})
    from app import infra
    from app.services import current_settings

    with site.app_context():
        infra.up(current_settings(), log=lambda m: None)
    response = site.test_client().get(
        "/", base_url="https://thumbs.example.org", headers={"Host": host}
    )
    assert response.status_code == status, response.get_data(as_text=True)[:300]
