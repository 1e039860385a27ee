"""Lambda's cold start: settle the heap once the app is built, and SnapStart's runtime hooks.

In a process Lambda's runtime started (LAMBDA_TASK_ROOT is set), `init_app` ends the app's
initialization by collecting the young garbage it left (the SSM client that read the secret,
and its connection) and freezing the rest: the garbage collector then never walks the tens of
thousands of objects the imports made, a full pass that otherwise costs the first request
about 50 ms. Tests that call Zappa's handler in their own process are left alone.

With SnapStart (`snapshot_restore_py`, which Lambda's python3.12 runtime provides, can be
imported), `init_app` also registers two runtime hooks: before the snapshot, `warm` builds what
every instance needs; after each restore, `renew` gives the instance what must be its own.
Where the module is absent (tests, local runs) nothing is registered. Zappa points only API
Gateway at the SnapStart alias: the worker and the reconciler run on the unqualified function,
are never restored, and depend on neither hook.
"""

from __future__ import annotations

import gc
import os
import random

from flask import Flask

from . import services


def init_app(app: Flask) -> None:
    """Register the SnapStart hooks if the runtime has them; inside Lambda, settle the heap."""
    hooks = _runtime_hooks()
    if hooks:
        before_snapshot, after_restore = hooks
        before_snapshot(warm, app)
        after_restore(renew)
    # The young generations only: a full pass over what the imports made is what this avoids.
    _settle(generation=1)


def warm(app: Flask) -> None:
    """Before the snapshot: build the clients, compile the pages, serve one request; settle."""
    with app.app_context():
        settings = services.get_services().settings
        for name in app.jinja_env.list_templates():
            app.jinja_env.get_template(name)
    origin = settings.site_origin[0] if settings.site_origin else "http://localhost"
    # Routing, the session and the request machinery are built on a first request.
    app.test_client().get("/healthz", base_url=origin)
    # Leave the snapshot no garbage (the pass skips what init froze), and nothing to walk.
    _settle(generation=2)


def renew() -> None:
    """After a restore: this instance's own clients (so connections) and random state.

    Every instance restored from one snapshot starts with the same memory: the same pooled
    connections and credentials in the clients, the same state of Python's `random` (which
    botocore's retry jitter draws on). Visitor and job ids come from `secrets`, which reads
    the kernel's generator at each call, so no id is ever made from the snapshot's state.
    """
    services.forget()
    random.seed()


def _settle(generation: int) -> None:
    """Inside Lambda, collect up to `generation` and freeze what survives; elsewhere nothing."""
    if os.environ.get("LAMBDA_TASK_ROOT"):
        gc.collect(generation)
        gc.freeze()


def _runtime_hooks():
    """Return SnapStart's `(register_before_snapshot, register_after_restore)`, or None."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return None
    return register_before_snapshot, register_after_restore
