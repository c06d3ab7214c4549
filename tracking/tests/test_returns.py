"""A return on the order's timeline and the customer's page: each step recorded, the page
saying honestly where the return stands, in the customer's language."""

import pytest

from orderflow.events import pump
from orders import services as order_services
from orders.models import OrderLine
from orders.services import returns
from tracking import payloads, queues, selectors
from tracking.models import TrackedOrder, TrackingEntry
from tracking.reactions import REACTIONS

pytestmark = pytest.mark.django_db

STAFF = order_services.Actor(kind="staff", name="ana")
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9"}


def _settle() -> None:
    pump.drain(max_seconds=60)


@pytest.fixture
def delivered(place):
    """A paid order of 1 x COFFEE-1KG and 1 x MUG, delivered, its events projected."""
    order = place(lines={"COFFEE-1KG": 1, "MUG": 1})
    _settle()
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="demo-post", tracking_number="DP-1234"
    )
    order = order_services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)
    _settle()
    return order


def _said(client, order, headers) -> tuple[list[str], str]:
    view = client.get(f"/track/{order.tracking_token}", **headers).context["view"]
    return view["sentences"], view["next_step"]


def test_each_step_is_on_the_timeline_and_the_page_follows_the_return(client, delivered):
    order_return = returns.return_request(
        order_id=delivered.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=order_services.Actor(kind="shop-key", name="Ab12Cd34"),
    )
    _settle()
    requested = _said(client, delivered, ENGLISH), _said(client, delivered, PORTUGUESE)

    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    _settle()
    approved = _said(client, delivered, ENGLISH)

    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=True)
    returns.return_refund(return_id=order_return.pk, actor=STAFF)
    _settle()
    refunded = _said(client, delivered, ENGLISH), _said(client, delivered, PORTUGUESE)

    assert requested[0] == (
        [
            "Your parcel was delivered. We hope you enjoy it!",
            "If anything is missing or not right, write to Demo Coffee.",
            "Return in progress: Demo Coffee is checking your request.",
        ],
        "The shop tells you whether to send the items back.",
    )
    assert requested[1][0][-1] == (
        "Devolução em andamento: a loja Demo Coffee está analisando seu pedido."
    )
    assert approved[0][-1] == (
        "Return in progress: Demo Coffee approved it; please send the items back."
    )
    assert approved[1] == "Send the items back to the shop."
    english, portuguese = refunded
    assert english[0][-2] == "Return received: Demo Coffee has your items back."
    assert english[0][-1].startswith("€9.90 was refunded on ")
    assert english[1] == ""
    assert portuguese[0][-2] == "Devolução recebida: a loja Demo Coffee já recebeu seus itens."
    assert TrackedOrder.objects.get(pk=delivered.pk).return_status == "refunded"
    entries = list(
        TrackingEntry.objects.filter(order_id=delivered.pk, event_type__startswith="return.")
        .order_by("sequence")
        .values_list("status", "source", "actor", "note", "public")
    )
    assert entries == [
        ("return_requested", "shop", "shop-key:Ab12Cd34", "R1: 1 x MUG; Arrived chipped.", True),
        ("return_approved", "staff", "staff:ana", "R1: 1 x MUG", True),
        ("return_received", "staff", "staff:ana", "R1: 1 x MUG; restocked", True),
        ("return_refunded", "staff", "staff:ana", "R1: 9.90 EUR refunded", True),
    ]
    restocked = TrackingEntry.objects.get(order_id=delivered.pk, event_type="stock.restocked")
    assert (restocked.status, restocked.public, restocked.note) == (
        "restocked",
        False,
        f"1 x MUG back on hand (return:{order_return.pk})",
    )
    # the order's status stays delivered, and its history holds every event once
    tracked = TrackedOrder.objects.get(pk=delivered.pk)
    assert tracked.status == "delivered"
    sequences = list(
        TrackingEntry.objects.filter(order_id=delivered.pk, aggregate="order")
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, tracked.sequence + 1))


def test_a_rejected_return_says_so(client, delivered):
    order_return = returns.return_request(
        order_id=delivered.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="Changed my mind.",
        actor=STAFF,
    )
    returns.return_reject(return_id=order_return.pk, actor=STAFF, reason="Opened package.")
    _settle()

    english, next_step = _said(client, delivered, ENGLISH)
    portuguese, _ = _said(client, delivered, PORTUGUESE)

    # the reason support or staff gave is the customer's, on the page as in the e-mail
    assert english[-1] == (
        "Demo Coffee could not accept your return. The reason given: Opened package."
    )
    assert next_step == ""
    assert portuguese[-1] == (
        "A loja Demo Coffee não pôde aceitar sua devolução. Motivo informado: Opened package."
    )
    page = client.get(f"/track/{delivered.tracking_token}", **ENGLISH).context["view"]
    assert [(r["status"], r["sentence"]) for r in page["returns"]] == [
        ("rejected", "Demo Coffee could not accept your return. The reason given: Opened package.")
    ]
    rejected = TrackingEntry.objects.get(order_id=delivered.pk, status="return_rejected")
    assert rejected.note == "R1: 1 x COFFEE-1KG; Opened package."


@pytest.mark.parametrize(
    ("event_type", "data", "note"),
    [
        ("return.closed", {"return_number": 2, "reason": "Replaced"}, "R2: Replaced"),
        ("return.closed", {"return_number": 2, "reason": ""}, "R2: "),
        (
            "return.received",
            {"return_number": 1, "lines": [{"sku": "MUG", "quantity": 2}], "restocked": False},
            "R1: 2 x MUG; not restocked",
        ),
    ],
)
def test_each_return_entrys_note_says_what_staff_need(event_type, data, note):
    assert REACTIONS[event_type].note(data) == note


def _view(client, order, headers) -> dict:
    return client.get(f"/track/{order.tracking_token}", **headers).context["view"]


def test_the_page_and_the_returns_queue_show_each_of_two_returns(client, delivered):
    first = returns.return_request(
        order_id=delivered.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )
    returns.return_approve(return_id=first.pk, actor=STAFF)
    second = returns.return_request(
        order_id=delivered.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="Changed my mind.",
        actor=STAFF,
    )
    _settle()
    both_open = TrackedOrder.objects.get(pk=delivered.pk)
    returns.return_reject(return_id=second.pk, actor=STAFF, reason="Opened package.")
    _settle()

    english = _view(client, delivered, ENGLISH)
    portuguese = _view(client, delivered, PORTUGUESE)
    names = dict(OrderLine.objects.filter(order=delivered).values_list("sku", "name"))

    assert (both_open.open_returns, both_open.return_status) == (2, "requested")
    assert [
        (r["title"], r["status_label"], r["contents"], r["sentence"]) for r in english["returns"]
    ] == [
        (
            "Return 1",
            "Approved: send the items back",
            f"1 \u00d7 {names['MUG']}",
            "Return in progress: Demo Coffee approved it; please send the items back.",
        ),
        (
            "Return 2",
            "Not accepted",
            f"1 \u00d7 {names['COFFEE-1KG']}",
            "Demo Coffee could not accept your return. The reason given: Opened package.",
        ),
    ]
    # the latest return (rejected) does not hide the first: the summary sends to the list,
    # and the next step is the open one's
    assert english["sentences"][-1] == (
        "You have several returns; each is listed below with where it stands."
    )
    assert english["next_step"] == "Send the items back to the shop."
    assert [r["status_label"] for r in portuguese["returns"]] == [
        "Aprovada: envie os itens de volta",
        "Não aceita",
    ]
    assert portuguese["returns"][0]["title"] == "Devolução 1"
    tracked = TrackedOrder.objects.get(pk=delivered.pk)
    assert (tracked.return_status, tracked.open_returns) == ("rejected", 1)
    assert [(r["number"], r["status"]) for r in tracked.returns] == [
        (1, "approved"),
        (2, "rejected"),
    ]
    assert queues.row_queues(tracked) == ["returns"]
    assert payloads.board_row(tracked)["returns"] == [
        {"number": 1, "status": "approved", "label": "R1 · Return approved"}
    ]
    in_queue = selectors.board_snapshot(queue="returns")
    assert [row["number"] for row in in_queue["rows"]] == [delivered.number]
    assert in_queue["queues"]["returns"] == 1


def test_a_settled_return_leaves_the_queue_when_no_other_is_open(client, delivered):
    order_return = returns.return_request(
        order_id=delivered.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    returns.return_close(return_id=order_return.pk, actor=STAFF, reason="Replaced")
    _settle()

    tracked = TrackedOrder.objects.get(pk=delivered.pk)
    view = _view(client, delivered, ENGLISH)
    mug = OrderLine.objects.get(order=delivered, sku="MUG").name

    assert (tracked.open_returns, queues.row_queues(tracked)) == (0, [])
    # return.closed names no lines: the return keeps those its earlier events named
    assert tracked.returns == [
        {
            "number": 1,
            "status": "closed",
            "lines": [{"sku": "MUG", "name": mug, "quantity": 1}],
        }
    ]
    assert [(r["status_label"], r["contents"]) for r in view["returns"]] == [
        ("Settled without a refund", f"1 \u00d7 {mug}")
    ]
