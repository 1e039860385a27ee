import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer

from app.errors import TicketExpired, TicketForeign, TicketInvalid
from app.tickets import SALT, Tickets, new_visitor_id

KEY = "k" * 40


def test_round_trip_gives_back_the_job():
    tickets = Tickets(KEY)
    visitor = new_visitor_id()
    assert tickets.job_id(tickets.issue("job-1", visitor), visitor) == "job-1"


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
        tickets.job_id(tamper(ticket), "visitor")
    assert refused.value.status == 404


def test_an_expired_ticket_is_refused(monkeypatch):
    tickets = Tickets(KEY, max_age=60)
    ticket = tickets.issue("job-1", "visitor")
    now = itsdangerous.timed.time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 61)
    with pytest.raises(TicketExpired) as refused:
        tickets.job_id(ticket, "visitor")
    assert refused.value.status == 403


def test_a_ticket_made_with_another_salt_is_refused():
    forged = URLSafeTimedSerializer(KEY, salt="another-context").dumps(
        {"j": "job-1", "v": "visitor"}
    )
    with pytest.raises(TicketInvalid):
        Tickets(KEY).job_id(forged, "visitor")


def test_a_ticket_made_with_another_key_is_refused():
    forged = Tickets("z" * 40).issue("job-1", "visitor")
    with pytest.raises(TicketInvalid):
        Tickets(KEY).job_id(forged, "visitor")


@pytest.mark.parametrize("visitor", ["someone-else", "", None])
def test_another_visitors_ticket_is_refused(visitor):
    tickets = Tickets(KEY)
    with pytest.raises(TicketForeign) as refused:
        tickets.job_id(tickets.issue("job-1", "visitor"), visitor)
    assert refused.value.status == 403


def test_a_signed_payload_of_the_wrong_shape_is_refused():
    odd = URLSafeTimedSerializer(KEY, salt=SALT).dumps(["job-1", "visitor"])
    with pytest.raises(TicketInvalid):
        Tickets(KEY).job_id(odd, "visitor")


def test_rotation_keeps_old_tickets_working_and_refuses_unknown_keys():
    old = Tickets("old-" + KEY).issue("job-1", "visitor")
    rotated = Tickets("new-" + KEY, fallbacks=["old-" + KEY])
    assert rotated.job_id(old, "visitor") == "job-1"
    assert rotated.job_id(rotated.issue("job-2", "visitor"), "visitor") == "job-2"
    with pytest.raises(TicketInvalid):
        rotated.job_id(Tickets("other-" + KEY).issue("job-3", "visitor"), "visitor")
