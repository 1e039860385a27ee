import time

import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer

from app.errors import TicketExpired, TicketForeign, TicketInvalid
from app.tickets import SALT, Cursors, Tickets, new_visitor_id, owner_tag

KEY = "k" * 40


def test_round_trip_gives_back_the_job_and_when_its_form_was_made():
    tickets = Tickets(KEY)
    owner = owner_tag(KEY, new_visitor_id())
    read = tickets.read(tickets.issue("job-1", owner), owner)
    assert read.job_id == "job-1" and abs(read.issued_at - time.time()) < 5


def test_an_owner_tag_is_a_keyed_digest_that_reveals_nothing_of_the_visitor():
    visitor = new_visitor_id()
    tag = owner_tag(KEY, visitor)
    assert tag == owner_tag(KEY, visitor) and len(tag) == 22
    assert tag != owner_tag("another-" + KEY, visitor)  # keyed: no key, no tag
    assert visitor not in tag and tag != owner_tag(KEY, new_visitor_id())


def test_visitor_ids_are_unguessable():
    ids = {new_visitor_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 for i in ids)


@pytest.mark.parametrize(
    "tamper",
    [
        # A whole character of the signature (its last one holds spare bits).
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
        lambda t: "x" + t[1:],  # payload changed
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: "",  # empty
        lambda t: "not-a-ticket",  # garbage
    ],
)
def test_a_tampered_ticket_is_refused(tamper):
    tickets = Tickets(KEY)
    ticket = tickets.issue("job-1", "visitor")
    with pytest.raises(TicketInvalid) as refused:
        tickets.read(tamper(ticket), "visitor")
    assert refused.value.status == 404


def test_an_expired_ticket_is_refused(monkeypatch):
    tickets = Tickets(KEY, max_age=60)
    ticket = tickets.issue("job-1", "visitor")
    now = itsdangerous.timed.time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 61)
    with pytest.raises(TicketExpired) as refused:
        tickets.read(ticket, "visitor")
    assert refused.value.status == 403


def test_a_ticket_made_with_another_salt_is_refused():
    forged = URLSafeTimedSerializer(KEY, salt="another-context").dumps(
        {"j": "job-1", "o": "visitor"}
    )
    with pytest.raises(TicketInvalid):
        Tickets(KEY).read(forged, "visitor")


def test_a_ticket_made_with_another_key_is_refused():
    forged = Tickets("z" * 40).issue("job-1", "visitor")
    with pytest.raises(TicketInvalid):
        Tickets(KEY).read(forged, "visitor")


@pytest.mark.parametrize("visitor", ["someone-else", "", None])
def test_another_visitors_ticket_is_refused(visitor):
    tickets = Tickets(KEY)
    with pytest.raises(TicketForeign) as refused:
        tickets.read(tickets.issue("job-1", "visitor"), visitor)
    assert refused.value.status == 403


def test_a_signed_payload_of_the_wrong_shape_is_refused():
    odd = URLSafeTimedSerializer(KEY, salt=SALT).dumps(["job-1", "visitor"])
    with pytest.raises(TicketInvalid):
        Tickets(KEY).read(odd, "visitor")


def test_rotation_keeps_old_tickets_working_and_refuses_unknown_keys():
    old = Tickets("old-" + KEY).issue("job-1", "visitor")
    rotated = Tickets("new-" + KEY, fallbacks=["old-" + KEY])
    assert rotated.read(old, "visitor").job_id == "job-1"
    assert rotated.read(rotated.issue("job-2", "visitor"), "visitor").job_id == "job-2"
    with pytest.raises(TicketInvalid):
        rotated.read(Tickets("other-" + KEY).issue("job-3", "visitor"), "visitor")


def test_a_cursor_carries_where_a_page_starts_and_nothing_forged():
    cursors = Cursors(KEY)
    token = cursors.make({"created_at": 1000.5, "job_id": "job-1"})
    assert cursors.read(token) == {"created_at": 1000.5, "job_id": "job-1"}
    for forged in (
        "forged",
        Cursors("other-" + KEY).make({"created_at": 1, "job_id": "j"}),
        URLSafeTimedSerializer(KEY, salt=Cursors.SALT).dumps(["a", "b", "c"]),
        None,
    ):
        assert cursors.read(forged) is None
