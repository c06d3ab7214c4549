"""The customer's tracking page, rendered by the server: an honest sentence for every state, in
the order's language unless the visitor asks for the other one, built from the projection."""

import uuid

import pytest
from django.db import transaction

from orderflow import customer_locale
from orders.models import Order
from tracking import public_page
from tracking.models import TrackedOrder
from tracking.services.projection import tracking_project

from .feed import Story


def project(events, capture):
    with capture(execute=True), transaction.atomic():
        tracking_project(events=events)


@pytest.fixture
def story(place, django_capture_on_commit_callbacks):
    """An order's story on the customer's page: ``story(*steps)`` projects the events the
    steps make (``Story``'s methods, by name, or callables of the story) and returns it."""

    def run(*steps, order=None, locale="pt-BR"):
        told = Story(order or place())
        events = []
        for step in steps:
            made = step(told) if callable(step) else getattr(told, step)()
            events += made if isinstance(made, list) else [made]
        for event in events:
            if event.type == "order.placed":
                event.data["customer_locale"] = locale
        project(events, django_capture_on_commit_callbacks)
        return told

    return run


def page(client, order, **headers):
    response = client.get(f"/track/{order.tracking_token}", **headers)
    assert response.status_code == 200
    return response


def said(response) -> list[str]:
    return response.context["view"]["sentences"]


ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9"}


# --- each state, in both languages --------------------------------------------------------------
def test_confirmed_says_the_shop_prepares_it_and_lists_the_items_and_contact(client, story):
    told = story("to_confirmed")

    english = page(client, told.order, **ENGLISH)
    portuguese = page(client, told.order, **PORTUGUESE)

    assert said(english) == ["Your order is confirmed and Demo Coffee is preparing it."]
    assert said(portuguese) == [
        "Seu pedido está confirmado e a loja Demo Coffee está preparando tudo."
    ]
    assert english.context["view"]["next_step"] == (
        "The shop packs your order and hands it to the carrier."
    )
    html = portuguese.content.decode()
    assert '2 \N{MULTIPLICATION SIGN}</span> <span class="name">Coffee beans, 1 kg</span>' in html
    shop_email = told.order.shop.contact_email
    assert f'href="mailto:{shop_email}?subject=Pedido%20{told.order.number}"' in html
    assert '<html lang="pt-BR">' in html


def test_shipped_names_the_carrier_and_the_tracking_number(client, story):
    told = story("to_confirmed", "shipped")

    response = page(client, told.order, **ENGLISH)

    assert said(response) == ["Your parcel is on its way with demo-post."]
    assert response.context["view"]["tracking_number"] == "DP-1"
    assert said(page(client, told.order, **PORTUGUESE)) == [
        "Seu pacote está a caminho com a transportadora demo-post."
    ]


def test_a_partly_shipped_order_says_the_rest_follows(client, story):
    def first_parcel(told):
        return told.order_event(
            "shipment.dispatched",
            "partially_shipped",
            "staff:ana",
            carrier="demo-post",
            tracking_number="DP-1",
            lines=[{"sku": "COFFEE-1KG", "quantity": 1, "name": "Coffee"}],
        )

    told = story("to_confirmed", first_parcel)

    english = page(client, told.order, **ENGLISH)
    portuguese = page(client, told.order, **PORTUGUESE)

    assert said(english) == [
        "Part of your order is on its way with demo-post; Demo Coffee sends the rest in "
        "another parcel."
    ]
    assert english.context["view"]["status_label"] == "Partly on its way"
    assert english.context["view"]["tracking_number"] == "DP-1"
    assert said(portuguese) == [
        "Parte do seu pedido está a caminho com demo-post; Demo Coffee envia o restante em "
        "outro pacote."
    ]
    assert portuguese.context["view"]["next_step"] == (
        "Parte do seu pedido já está com a transportadora; a loja envia o restante em outro pacote."
    )


def _parcel_event(told, type_, status, parcel, number, **lines):
    return told.order_event(
        type_,
        status,
        "carrier:demo-post" if type_ != "shipment.dispatched" else "staff:ana",
        carrier="demo-post",
        tracking_number=number,
        shipment_id=parcel,
        lines=[{"sku": sku, "quantity": n, "name": sku.title()} for sku, n in lines.items()],
    )


def test_each_parcel_is_listed_with_its_status_items_and_number(client, story):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    told = story(
        "to_confirmed",
        lambda t: _parcel_event(
            t, "shipment.dispatched", "partially_shipped", first, "DP-1", MUG=1
        ),
        lambda t: _parcel_event(t, "shipment.dispatched", "shipped", second, "DP-2", COFFEE=2),
        lambda t: _parcel_event(t, "shipment.delivered", "", first, "DP-1", MUG=1),
    )

    english = page(client, told.order, **ENGLISH)
    portuguese = page(client, told.order, **PORTUGUESE)

    assert TrackedOrder.objects.get(order_id=told.order.id).parcels == [
        {
            "id": first,
            "carrier": "demo-post",
            "tracking_number": "DP-1",
            "status": "delivered",
            "lines": [{"sku": "MUG", "name": "Mug", "quantity": 1}],
            "eta": "",
        },
        {
            "id": second,
            "carrier": "demo-post",
            "tracking_number": "DP-2",
            "status": "in_transit",
            "lines": [{"sku": "COFFEE", "name": "Coffee", "quantity": 2}],
            "eta": "",
        },
    ]
    assert [
        (p["status_label"], p["tracking_number"]) for p in english.context["view"]["parcels"]
    ] == [("Delivered", "DP-1"), ("On its way", "DP-2")]
    html = english.content.decode()
    assert "Your parcels" in html
    assert "2 \N{MULTIPLICATION SIGN} Coffee" in html
    assert "Seus pacotes" in portuguese.content.decode()
    assert [p["status_label"] for p in portuguese.context["view"]["parcels"]] == [
        "Entregue",
        "A caminho",
    ]


def test_each_parcel_says_its_expected_day_and_contents_until_delivered(client, story):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    def with_eta(event):
        event.data["eta"] = "2026-12-10T12:00:00+00:00"
        return event

    told = story(
        "to_confirmed",
        lambda t: with_eta(
            _parcel_event(t, "shipment.dispatched", "partially_shipped", first, "DP-1", MUG=1)
        ),
        lambda t: with_eta(
            _parcel_event(t, "shipment.dispatched", "shipped", second, "DP-2", COFFEE=2, MUG=1)
        ),
        lambda t: _parcel_event(t, "shipment.delivered", "", first, "DP-1", MUG=1),
    )

    english = page(client, told.order, **ENGLISH).context["view"]["parcels"]
    portuguese = page(client, told.order, **PORTUGUESE).context["view"]["parcels"]

    # the words the page's script places on each push, as the server renders the page
    assert [(p["eta_text"], p["contents"]) for p in english] == [
        ("", "1 \N{MULTIPLICATION SIGN} Mug"),
        (
            "Expected December 10, 2026",
            "2 \N{MULTIPLICATION SIGN} Coffee, 1 \N{MULTIPLICATION SIGN} Mug",
        ),
    ]
    assert portuguese[1]["eta_text"] == "Previsão de entrega: 10 de dezembro de 2026"


def test_a_failed_delivery_attempt_says_what_happens_next(client, story):
    told = story("to_confirmed", "shipped", "delivery_failed")

    english = page(client, told.order, **ENGLISH)
    portuguese = page(client, told.order, **PORTUGUESE)

    assert said(english)[0] == "demo-post tried to deliver your parcel but could not."
    assert "The carrier will try again on its next round." in said(english)[1]
    assert "write to Demo Coffee" in said(english)[1]
    assert english.context["view"]["next_step"] == "The carrier tries again."
    assert english.context["view"]["tone"] == "bad"
    assert said(portuguese)[0] == (
        "A transportadora demo-post tentou entregar seu pacote, mas não conseguiu."
    )
    assert portuguese.context["view"]["next_step"] == "A transportadora tenta de novo."
    # the carrier's own words stay in the timeline, never "Out for delivery" next
    steps = english.context["steps"]
    assert [s["label"] for s in steps][-1] == "Delivery attempt failed"
    assert steps[-1]["note"] == "Nobody at home"
    assert steps[-1]["location_text"] == "Location: Porto"


def test_after_a_failed_attempt_good_news_ends_the_bad_news(client, story):
    told = story("to_confirmed", "shipped", "delivery_failed", "out_for_delivery")

    response = page(client, told.order, **ENGLISH)

    assert said(response) == ["Your parcel is out for delivery and should arrive today."]
    assert response.context["view"]["tone"] == "neutral"
    assert TrackedOrder.objects.get(pk=told.order.id).delivery_issue == ""


def test_delivered(client, story):
    told = story("to_confirmed", "shipped", "delivered")

    english = page(client, told.order, **ENGLISH)

    assert said(english) == [
        "Your parcel was delivered. We hope you enjoy it!",
        "If anything is missing or not right, write to Demo Coffee.",
    ]
    assert english.context["view"]["next_step"] == ""
    assert english.context["view"]["tone"] == "good"
    assert said(page(client, told.order, **PORTUGUESE))[0] == (
        "Seu pacote foi entregue. Esperamos que você goste!"
    )


def test_rejected_says_why_and_that_nothing_was_charged(client, story):
    told = story("placed", "rejected")

    english = page(client, told.order, **ENGLISH)
    portuguese = page(client, told.order, **PORTUGUESE)

    assert said(english) == [
        "Demo Coffee could not accept your order: one item is no longer in stock.",
        "Coffee beans, 1 kg: you asked for 2, only 1 left.",
        "Nothing was charged, and the order will not be sent.",
    ]
    assert said(portuguese) == [
        "A loja Demo Coffee não pôde aceitar seu pedido: um item não está mais em estoque.",
        "Coffee beans, 1 kg: você pediu 2, restam só 1.",
        "Nada foi cobrado, e o pedido não será enviado.",
    ]
    assert english.context["view"]["status_label"] == "Not accepted"
    assert english.context["view"]["parcel_shown"] is False
    assert 'id="parcel" aria-labelledby="parcel-title" hidden' in english.content.decode()
    assert portuguese.context["view"]["status_label"] == "Não aceito"
    assert english.context["view"]["next_step"] == ""


def test_cancelled_before_payment_says_nothing_was_charged(client, story):
    told = story(
        "placed",
        "reserved",
        lambda s: s.cancelled(reason="Out of season", previous_status="reserved"),
    )

    assert said(page(client, told.order, **ENGLISH)) == [
        "Demo Coffee cancelled your order.",
        "The reason given: Out of season",
        "Nothing was charged.",
    ]


def test_cancelled_after_payment_says_the_refund_is_coming_then_when_it_came(client, story):
    told = story("to_confirmed", lambda s: s.cancelled(reason="The roaster closed"))
    refunding = said(page(client, told.order, **ENGLISH))

    story(lambda s: s.refunded("24.90"), order=told.order)
    english = said(page(client, told.order, **ENGLISH))
    portuguese = said(page(client, told.order, **PORTUGUESE))

    assert refunding == [
        "Demo Coffee cancelled your order.",
        "The reason given: The roaster closed",
        "Your payment of €24.90 is being refunded to the way you paid.",
    ]
    assert english[2].startswith("€24.90 was refunded on ")
    assert english[2].endswith(" to the way you paid.")
    assert portuguese[0] == "A loja Demo Coffee cancelou seu pedido."
    assert portuguese[1] == "Motivo informado: The roaster closed"  # as the shop wrote it
    assert portuguese[2].startswith("€\xa024,90 foram devolvidos em ")
    assert " de 20" in portuguese[2]  # "4 de dezembro de 2026"


def test_cancelled_because_the_payment_failed_says_so(client, story):
    told = story(
        "placed",
        "reserved",
        lambda s: s.cancelled(
            reason="Payment failed: card declined", previous_status="reserved", by="system"
        ),
    )

    assert said(page(client, told.order, **ENGLISH)) == [
        "The payment could not be taken, so the order was cancelled.",
        "The payment service said: card declined",
        "Nothing was charged.",
    ]


def test_a_refund_after_delivery_is_said_beside_the_delivery(client, story):
    told = story("to_confirmed", "shipped", "delivered", lambda s: s.refunded("10.00"))

    sentences = said(page(client, told.order, **ENGLISH))

    assert sentences[0] == "Your parcel was delivered. We hope you enjoy it!"
    assert sentences[-1].startswith("€10.00 was refunded on ")
    assert TrackedOrder.objects.get(pk=told.order.id).refunded_amount == 10


def test_every_state_has_words_in_both_languages():
    """No status of the orders' vocabulary falls back to its code on the customer's page."""
    from orders.events import OrderStatus

    for language in ("en", "pt-br"):
        with customer_locale.translation.override(language):
            for status in OrderStatus.values:
                assert status in public_page.STATUS_LABELS, status
                assert public_page.status_label(status) != status


# --- nothing private, nothing for developers ----------------------------------------------------
def test_the_page_shows_no_staff_data_and_no_link_to_orderflow(client, story):
    told = story("to_confirmed", lambda s: s.cancelled(reason="The roaster closed"))

    html = page(client, told.order, **ENGLISH).content.decode()

    for private in (
        "Ana Souza",
        told.order.customer_email,
        "Rua A 1",
        "gw_1",
        "INV-1",
        "staff:ana",
    ):
        assert private not in html, private
    for developer in ("/admin", "/api/", "/staff", "OrderFlow"):
        assert developer not in html, developer
    assert 'class="brand shop-name">Demo Coffee</span>' in html  # the shop's name, no link


# --- which language -------------------------------------------------------------------------------
def test_the_page_follows_the_order_unless_the_browser_asks_for_the_other(client, story):
    told = story("to_confirmed", locale="pt-BR")

    def language(**headers):
        response = page(client, told.order, **headers)
        return response["Content-Language"], response.context["language"]

    assert language() == ("pt-BR", "pt-br")  # no Accept-Language: the order's
    assert language(HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.8") == ("pt-BR", "pt-br")
    assert language(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9") == ("en", "en")
    assert language(HTTP_ACCEPT_LANGUAGE="fr, en;q=0.5, pt;q=0.1") == ("en", "en")
    assert language(HTTP_ACCEPT_LANGUAGE="pt-PT") == ("pt-BR", "pt-br")
    response = page(client, told.order, HTTP_ACCEPT_LANGUAGE="en")
    assert "Accept-Language" in response["Vary"]


def test_the_page_link_to_the_other_language_wins(client, story):
    told = story("to_confirmed", locale="en")

    asked = client.get(f"/track/{told.order.tracking_token}", {"lang": "pt-br"}, **ENGLISH)
    junk = client.get(f"/track/{told.order.tracking_token}", {"lang": "\x00xx"}, **ENGLISH)

    assert asked.context["language"] == "pt-br"
    assert 'data-socket="/ws/track/' in asked.content.decode()
    assert "?lang=pt-br" in asked.context["socket_path"]
    assert junk.status_code == 200
    assert junk.context["language"] == "en"


@pytest.mark.parametrize(
    ("order_locale", "accept", "asked", "expected"),
    [
        ("pt-BR", "", "", "pt-br"),
        ("en", "", "", "en"),
        ("", "", "", "en"),  # LANGUAGE_CODE
        ("xx", "*", "", "en"),
        ("en", "pt-BR,pt;q=0.9,en;q=0.8", "", "pt-br"),
        ("pt-BR", "en-US", "", "en"),
        ("pt-BR", "es-ES,es;q=0.9", "", "pt-br"),
        ("pt-BR", "en-US", "pt", "pt-br"),
        ("en", "", "PT-br", "pt-br"),
        ("en", "", "klingon", "en"),
        ("en", "x" * 1000, "", "en"),
    ],
)
def test_the_language_rules(order_locale, accept, asked, expected):
    assert (
        customer_locale.page_language(
            order_locale=order_locale, accept_language=accept, asked=asked
        )
        == expected
    )


def test_e_mails_follow_the_order_alone():
    assert customer_locale.order_language("pt-BR") == "pt-br"
    assert customer_locale.order_language("en") == "en"
    assert customer_locale.order_language("") == "en"
    assert customer_locale.order_language(None) == "en"


def test_money_and_dates_are_the_locales_own():
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    assert customer_locale.money("1234.5", "BRL", "pt-br") == "R$\xa01.234,50"
    assert customer_locale.money("1234.5", "BRL", "en") == "R$1,234.50"
    assert customer_locale.long_date(moment, "pt-br") == "4 de dezembro de 2026"
    assert customer_locale.long_date(moment, "en") == "December 4, 2026"
    assert customer_locale.date_time(moment, "pt-br") == "4 de dez. de 2026 15:30"


# --- facts an older order.placed does not carry -------------------------------------------------
def test_an_order_placed_without_the_page_facts_gets_them_from_the_orders_context_per_batch(
    place, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def placed_without_facts(count: int):
        events = []
        for _ in range(count):
            event = Story(place(lines={"COFFEE-1KG": 2})).placed()
            for line in event.data["lines"]:
                del line["name"]
            del event.data["shop_email"], event.data["customer_locale"]
            events.append(event)
        return events

    counts = []
    for size in (1, 5):
        events = placed_without_facts(size)
        with CaptureQueriesContext(connection) as queries:
            project(events, django_capture_on_commit_callbacks)
        counts.append(len(queries))

    assert counts[0] == counts[1]  # one read for the batch, whatever its size
    row = TrackedOrder.objects.get(pk=events[0].data["order_id"])
    order = Order.objects.select_related("shop").get(pk=row.order_id)
    assert row.items == [{"sku": "COFFEE-1KG", "name": order.lines.get().name, "quantity": 2}]
    assert row.shop_email == order.shop.contact_email != ""
    assert row.customer_locale == order.customer_locale


def test_the_embedded_modes_orm_path_keeps_the_same_facts(
    client, story, monkeypatch, django_capture_on_commit_callbacks
):
    """SQLite (``make run``) records through the ORM: the page's facts are the same."""
    from tracking import repository

    monkeypatch.setattr(repository, "_postgres", lambda: False)
    failed = story("to_confirmed", "shipped", "delivery_failed")
    told = story("to_confirmed", lambda s: s.cancelled(reason="Lost"), lambda s: s.refunded("5.00"))
    story(lambda s: s.refunded("2.50"), order=told.order)  # a second refund, a later batch

    assert TrackedOrder.objects.get(pk=failed.order.id).delivery_issue == "delivery_failed"
    row = TrackedOrder.objects.get(pk=told.order.id)
    assert row.items == [{"sku": "COFFEE-1KG", "name": "Coffee beans, 1 kg", "quantity": 2}]
    assert row.customer_locale == "pt-BR"
    assert row.outcome["cause"] == "shop"
    assert row.refunded_amount == 7.5
    assert row.refunded_at is not None
    assert said(page(client, told.order, **ENGLISH))[-1].startswith("€7.50 was refunded on ")


def test_a_parcel_of_several_is_told_as_such_until_the_last_one_arrives(client, story):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    told = story(
        "to_confirmed",
        lambda t: _parcel_event(
            t, "shipment.dispatched", "partially_shipped", first, "DP-1", MUG=1
        ),
        lambda t: _parcel_event(t, "shipment.delivered", "", first, "DP-1", MUG=1),
    )

    steps = [s["label"] for s in page(client, told.order, **ENGLISH).context["steps"]]
    assert steps[-2:] == ["Part of your order handed to the carrier", "A parcel was delivered"]
    steps = [s["label"] for s in page(client, told.order, **PORTUGUESE).context["steps"]]
    assert steps[-2:] == [
        "Parte do seu pedido entregue à transportadora",
        "Um dos pacotes foi entregue",
    ]

    told = story(
        "to_confirmed",
        lambda t: _parcel_event(
            t, "shipment.dispatched", "partially_shipped", first, "DP-1", MUG=1
        ),
        lambda t: _parcel_event(t, "shipment.delivered", "", first, "DP-1", MUG=1),
        lambda t: _parcel_event(t, "shipment.dispatched", "shipped", second, "DP-2", COFFEE=2),
        lambda t: _parcel_event(t, "shipment.delivered", "delivered", second, "DP-2", COFFEE=2),
    )

    steps = [s["label"] for s in page(client, told.order, **ENGLISH).context["steps"]]
    assert steps[-4:] == [
        "Part of your order handed to the carrier",
        "A parcel was delivered",
        "Handed to the carrier",
        "Delivered",
    ]
