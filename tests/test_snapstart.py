"""SnapStart: the hooks warm what every instance shares, and restored instances share nothing else.

A restore is played by `os.fork()`: each child starts from the parent's memory, as instances
restored from one snapshot start from its memory, pooled sockets included. Fork reseeds
Python's `random` in the child, which a restore does not: each child is first given the
generator's state from before the "snapshot".
"""

import json
import os
import random
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import coldstart, create_app, services

from lambda_stage import zappa_cli
from support import upload_form

SITE = "https://thumbs.example.org"


def settings_for_tests(**overrides) -> dict:
    return {"TESTING": True, "SECRET_KEY": "snapstart-test-key-" + "k" * 32, **overrides}


@pytest.fixture
def runtime_hooks(monkeypatch):
    """`snapshot_restore_py` as Lambda's python3.12 runtime provides it with SnapStart."""
    hooks = types.ModuleType("snapshot_restore_py")
    hooks.before, hooks.after = [], []
    hooks.register_before_snapshot = lambda f, *a, **k: hooks.before.append((f, a, k))
    hooks.register_after_restore = lambda f, *a, **k: hooks.after.append((f, a, k))
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks)
    return hooks


def take_snapshot(hooks) -> None:
    for func, args, kwargs in reversed(hooks.before):  # the runtime's order: last first
        func(*args, **kwargs)


def restore(hooks) -> None:
    for func, args, kwargs in hooks.after:
        func(*args, **kwargs)


class S3Stand:
    """An S3 endpoint on 127.0.0.1 that answers every HEAD with 200 and notes the caller's port.

    It keeps connections alive, as S3 does, so a client's pool reuses its socket: a request on
    a socket shared with another instance arrives from that other instance's port.
    """

    def __init__(self):
        self.ports: list[int] = []
        ports = self.ports

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self):
                ports.append(self.client_address[1])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def s3_stand():
    stand = S3Stand()
    yield stand
    stand.close()
    services.forget()


@pytest.fixture
def snapshotted(runtime_hooks, s3_stand):
    """An app built with SnapStart's hooks, its before-snapshot hook run, a connection open."""
    app = create_app(settings_for_tests(AWS_ENDPOINT_URL=s3_stand.url, SITE_ORIGIN=SITE))
    take_snapshot(runtime_hooks)
    with app.app_context():
        storage = services.get_services().storage
        # Whatever init sent to AWS left a pooled connection in the snapshot.
        storage.client.head_bucket(Bucket=storage.uploads_bucket)
    return app


def restored_instance(app, hooks, random_state, run_hooks: bool = True) -> dict:
    """Fork an instance from this process's memory; return what its first visit shows."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the restored instance
        try:
            os.close(read)
            random.setstate(random_state)  # a restore, unlike fork, keeps the generator's state
            if run_hooks:
                restore(hooks)
            seen = first_visit(app)
            os.write(write, json.dumps(seen).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        seen = json.loads(answer.read() or "null")
    os.waitpid(pid, 0)
    assert seen, "the restored instance failed"
    return seen


def first_visit(app) -> dict:
    """A visitor's first page, one call to S3, and a draw from `random`."""
    client = app.test_client()
    page = client.get("/", base_url=SITE).get_data(as_text=True)
    with client.session_transaction(base_url=SITE) as session:
        visitor = session["visitor"]
    key = dict(upload_form(page)[1])["key"]
    with app.app_context():
        storage = services.get_services().storage
        storage.client.head_bucket(Bucket=storage.uploads_bucket)
    return {"visitor": visitor, "job": key.split("/")[1], "random": random.random()}


def test_without_the_runtime_module_no_hook_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert coldstart._runtime_hooks() is None
    app = create_app(settings_for_tests())
    assert app.test_client().get("/healthz").status_code == 200


def test_with_snapstart_the_app_registers_warm_before_and_renew_after(runtime_hooks):
    app = create_app(settings_for_tests())
    assert runtime_hooks.before == [(coldstart.warm, (app,), {})]
    assert runtime_hooks.after == [(coldstart.renew, (), {})]


def test_the_snapshot_holds_the_clients_and_every_compiled_page(snapshotted, monkeypatch):
    monkeypatch.setattr(services, "client", lambda *a: pytest.fail("a client was built again"))
    with snapshotted.app_context():
        services.get_services()
    loaded = {name for _, name in snapshotted.jinja_env.cache.keys()}
    assert loaded >= set(snapshotted.jinja_env.list_templates()) >= {"base.html", "upload.html"}


def test_two_restored_instances_share_no_visitor_job_connection_or_random_draw(
    snapshotted, runtime_hooks, s3_stand
):
    state = random.getstate()
    before_snapshot = set(s3_stand.ports)
    one = restored_instance(snapshotted, runtime_hooks, state)
    two = restored_instance(snapshotted, runtime_hooks, state)
    assert one["visitor"] != two["visitor"] and one["job"] != two["job"]
    assert one["random"] != two["random"]
    first, second = s3_stand.ports[-2:]
    assert first != second and not {first, second} & before_snapshot


def test_without_the_after_restore_hook_instances_would_share_a_connection_and_draws(
    snapshotted, runtime_hooks, s3_stand
):
    # What renew prevents, shown: the same socket and the same "random" numbers. Ids never
    # came from the snapshot: they read the kernel's generator at each call.
    state = random.getstate()
    one = restored_instance(snapshotted, runtime_hooks, state, run_hooks=False)
    two = restored_instance(snapshotted, runtime_hooks, state, run_hooks=False)
    assert one["random"] == two["random"]
    assert len(set(s3_stand.ports)) == 1
    assert one["visitor"] != two["visitor"] and one["job"] != two["job"]


@pytest.mark.parametrize("in_lambda", [True, False])
def test_only_a_lambda_process_freezes_its_heap_once_the_app_is_built(monkeypatch, in_lambda):
    calls = []
    fake_gc = types.SimpleNamespace(
        collect=lambda generation=2: calls.append(("collect", generation)),
        freeze=lambda: calls.append(("freeze",)),
    )
    monkeypatch.setattr(coldstart, "gc", fake_gc)
    if in_lambda:
        monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    else:
        monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    create_app(settings_for_tests())
    # Young garbage only (the reader of the secret), then nothing else to walk.
    assert calls == ([("collect", 1), ("freeze",)] if in_lambda else [])


def test_production_turns_snapstart_on_for_api_gateway_only(monkeypatch):
    from lambda_stage import ROOT

    monkeypatch.chdir(ROOT)
    production, dev = zappa_cli("production"), zappa_cli("dev")
    assert production.stage_config["snap_start"] == "PublishedVersions"
    # Zappa points API Gateway at its "snapstart" alias; S3 and the schedule keep calling the
    # unqualified function, whose instances are never restored.
    assert production.apigateway_lambda_qualifier == "snapstart"
    # The app must be built during init, or the snapshot would hold only Zappa's imports.
    assert production.stage_config["aws_environment_variables"][
        "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"
    ]
    assert dev.snap_start in (None, "None") and dev.apigateway_lambda_qualifier is None
