"""The customer's tracking page on a phone (390x844), in every state, in pt-BR and English.

Each state's page is screenshotted to test-artifacts/tracking-<state>-<language>.png (the
docs show them). The states are told to the tracking projector as feed events (the same
stories as tracking/tests/test_public_page.py); daphne serves the page and its socket.
"""

from datetime import UTC, datetime

import pytest
from django.db import transaction
from playwright.sync_api import expect

from orders import services
from testkit.factories import order_for
from tests.fixtures import drain_until_settled
from tracking.services.projection import tracking_project
from tracking.tests.feed import Story

from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}

#: state -> the story's steps, and what the page says first, in English and in Portuguese
STATES = {
    "confirmed": (
        ["to_confirmed"],
        "Your order is confirmed and Browser Coffee is preparing it.",
        "Seu pedido está confirmado e a loja Browser Coffee está preparando tudo.",
    ),
    "shipped": (
        ["to_confirmed", "shipped", "in_transit"],
        "Your parcel is on its way with demo-post.",
        "Seu pacote está a caminho com a transportadora demo-post.",
    ),
    "delivery-failed": (
        ["to_confirmed", "shipped", "in_transit", "delivery_failed"],
        "demo-post tried to deliver your parcel but could not.",
        "A transportadora demo-post tentou entregar seu pacote, mas não conseguiu.",
    ),
    "held": (
        ["to_confirmed", "shipped", "in_transit", "held"],
        "demo-post is holding your parcel instead of delivering it.",
        "A transportadora demo-post reteve seu pacote em vez de entregá-lo.",
    ),
    "returned-to-sender": (
        ["to_confirmed", "shipped", "in_transit", "returned_to_sender"],
        "demo-post is sending your parcel back to Browser Coffee.",
        "A transportadora demo-post está devolvendo seu pacote à loja Browser Coffee.",
    ),
    "cancelled-by-carrier": (
        ["to_confirmed", "shipped", "carrier_cancelled"],
        "demo-post cancelled the shipment of your parcel: it has not left.",
        "A transportadora demo-post cancelou o envio do seu pacote: ele não saiu.",
    ),
    "out-for-delivery": (
        ["to_confirmed", "shipped", "out_for_delivery"],
        "Your parcel is out for delivery and should arrive today.",
        "Seu pacote saiu para entrega e deve chegar hoje.",
    ),
    "delivered": (
        ["to_confirmed", "shipped", "delivered"],
        "Your parcel was delivered. We hope you enjoy it!",
        "Seu pacote foi entregue. Esperamos que você goste!",
    ),
    "rejected": (
        ["placed", "rejected"],
        "Browser Coffee could not accept your order: one item is no longer in stock.",
        "A loja Browser Coffee não pôde aceitar seu pedido: um item não está mais em estoque.",
    ),
    "cancelled-refunding": (
        ["to_confirmed", lambda s: s.cancelled(reason="The roaster closed for the season")],
        "Browser Coffee cancelled your order.",
        "A loja Browser Coffee cancelou seu pedido.",
    ),
    "cancelled-refunded": (
        [
            "to_confirmed",
            lambda s: s.cancelled(reason="The roaster closed for the season"),
            lambda s: s.refunded("24.90"),
        ],
        "Browser Coffee cancelled your order.",
        "A loja Browser Coffee cancelou seu pedido.",
    ),
    "payment-failed": (
        [
            "placed",
            "reserved",
            lambda s: s.cancelled(
                reason="Payment failed: card declined", previous_status="reserved", by="system"
            ),
        ],
        "The payment could not be taken, so the order was cancelled.",
        "Não foi possível receber o pagamento, por isso o pedido foi cancelado.",
    ),
    "refunded-after-delivery": (
        ["to_confirmed", "shipped", "delivered", lambda s: s.refunded("24.90")],
        "Your parcel was delivered. We hope you enjoy it!",
        "Seu pacote foi entregue. Esperamos que você goste!",
    ),
}


def _told(shop, steps, *, locale: str, story: Story | None = None) -> Story:
    story = story or Story(order_for(shop, lines={"COFFEE-1KG": 2}))
    events = []
    for step in steps:
        made = step(story) if callable(step) else getattr(story, step)()
        events += made if isinstance(made, list) else [made]
    for event in events:
        if event.type == "order.placed":
            event.data["customer_locale"] = locale
    with transaction.atomic():
        tracking_project(events=events)
    return story


def test_every_state_on_a_phone_in_both_languages(web_only, demo_shop, browser, artifacts):
    # the order's language is pt-BR; an English browser asks for English
    browsers = {
        "pt-BR": browser.new_context(viewport=PHONE, is_mobile=True, locale="pt-BR"),
        "en": browser.new_context(viewport=PHONE, is_mobile=True, locale="en-US"),
    }
    for state, (steps, english, portuguese) in STATES.items():
        order = _told(demo_shop, steps, locale="pt-BR").order
        for language, first_sentence in (("pt-BR", portuguese), ("en", english)):
            page = browsers[language].new_page()
            page.goto(f"{web_only.base_url}/track/{order.tracking_token}")

            expect(page.locator("html")).to_have_attribute("lang", language)
            expect(page.locator("#sentences p").first).to_have_text(first_sentence)
            expect(page.locator("#live-indicator")).to_have_text(
                "Ao vivo" if language == "pt-BR" else "Live"
            )
            # a phone's width holds the page: nothing scrolls sideways
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=artifacts / f"tracking-{state}-{language}.png", full_page=True)
            page.close()
    for context in browsers.values():
        context.close()


def test_the_language_link_switches_and_keeps_the_page_live(web_only, demo_shop, browser):
    story = _told(demo_shop, ["to_confirmed", "shipped"], locale="en")
    order = story.order
    page = browser.new_context(viewport=PHONE, is_mobile=True, locale="en-US").new_page()
    page.goto(f"{web_only.base_url}/track/{order.tracking_token}")
    expect(page.locator('[data-live="status_label"]')).to_have_text("On its way")

    page.get_by_role("link", name="Português (Brasil)").click()

    expect(page.locator('[data-live="status_label"]')).to_have_text("A caminho")
    expect(page.locator("#live-indicator")).to_have_text("Ao vivo")
    expect(page.get_by_role("heading", name="Seus itens")).to_be_visible()
    expect(page.locator("ul.items")).to_contain_text("Coffee beans, 1 kg")
    # the shop's page: its name is no link, and nothing links to OrderFlow or the API
    assert page.locator("header a").count() == 1  # the language link back to English
    assert page.locator('a[href^="/admin"], a[href^="/api"], a[href^="/staff"]').count() == 0

    # the carrier's bad news reaches the open page, live, in the page's language
    page.evaluate("window.notReloaded = true")
    _told(demo_shop, ["delivery_failed"], locale="en", story=story)
    expect(page.locator("#sentences p").first).to_have_text(
        "A transportadora demo-post tentou entregar seu pacote, mas não conseguiu."
    )
    expect(page.locator("#summary")).to_have_attribute("data-tone", "bad")
    expect(page.locator("#timeline-entries li").last).to_contain_text(
        "Tentativa de entrega sem sucesso"
    )
    assert page.evaluate("window.notReloaded") is True


#: the parcels' words on the page, in English and in Portuguese
PARCEL_WORDS = {
    "en": {
        "partly": "Partly on its way",
        "on_its_way": "On its way",
        "delivered": "Delivered",
        "eta": "Expected December 10, 2026",
    },
    "pt-BR": {
        "partly": "Em parte a caminho",
        "on_its_way": "A caminho",
        "delivered": "Entregue",
        "eta": "Previsão de entrega: 10 de dezembro de 2026",
    },
}


def test_an_open_page_lists_each_parcel_as_it_leaves_and_arrives(
    web_only, demo_shop, browser, artifacts
):
    # given an order of two items, one of which left in a first parcel
    order = services.order_place(
        shop=demo_shop,
        customer=services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address={"line1": "Rua A 1", "city": "São Paulo", "country": "BR"},
        lines=[
            services.LineInput(sku="COFFEE-1KG", quantity=2),
            services.LineInput(sku="MUG-CERAMIC", quantity=1),
        ],
        payment_token="tok_ok",
        customer_locale="pt-BR",
    )
    drain_until_settled()
    parcel = {"carrier": "demo-post", "tracking_number": "DP-PARCEL-1"}
    web_only.api(
        "POST",
        f"orders/{order.id}/shipments",
        {**parcel, "lines": [{"sku": "COFFEE-1KG", "quantity": 2}]},
    )
    drain_until_settled()

    # the customer's page is open, in each language, with one parcel on its way
    pages = {}
    for language, words in PARCEL_WORDS.items():
        page = browser.new_context(viewport=PHONE, is_mobile=True, locale=language).new_page()
        page.goto(f"{web_only.base_url}/track/{order.tracking_token}")
        expect(page.locator("#live-indicator")).to_have_text(
            "Ao vivo" if language == "pt-BR" else "Live"
        )
        expect(page.locator('[data-live="status_label"]')).to_have_text(words["partly"])
        expect(page.locator("#parcels")).to_be_hidden()  # the card's carrier tells the one
        page.evaluate("window.notReloaded = true")
        pages[language] = page

    # when the rest leaves (the shops' API), and the carrier expects it on the 10th
    web_only.api(
        "POST", f"orders/{order.id}/shipments", {**parcel, "tracking_number": "DP-PARCEL-2"}
    )
    drain_until_settled()
    services.shipment_report(
        carrier="demo-post",
        event_id="browser-poll-1",
        tracking_number="DP-PARCEL-2",
        status="in_transit",
        eta=datetime(2026, 12, 10, 12, tzinfo=UTC),
    )
    drain_until_settled()

    # then each page lists both parcels, in its language, without a reload
    for language, page in pages.items():
        words = PARCEL_WORDS[language]
        parcels = page.locator("#parcel-list li")
        expect(parcels).to_have_count(2)
        expect(page.locator("#parcels")).to_be_visible()
        expect(parcels.nth(0)).to_contain_text("DP-PARCEL-1")
        expect(parcels.nth(0)).to_contain_text("2 \N{MULTIPLICATION SIGN} Coffee beans, 1 kg")
        expect(parcels.nth(1).locator(".status")).to_have_text(words["on_its_way"])
        expect(parcels.nth(1)).to_contain_text("DP-PARCEL-2")
        expect(parcels.nth(1)).to_contain_text("1 \N{MULTIPLICATION SIGN} Ceramic mug")
        expect(parcels.nth(1).locator(".eta")).to_have_text(words["eta"])
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert _violations(page) == []
        page.screenshot(path=artifacts / f"tracking-parcels-{language}.png", full_page=True)

    # when the carrier delivers the first parcel, its line says so; the other is on its way
    web_only.carrier("DP-PARCEL-1", "delivered")
    drain_until_settled()

    for language, page in pages.items():
        words = PARCEL_WORDS[language]
        parcels = page.locator("#parcel-list li")
        expect(parcels.nth(0).locator(".status")).to_have_text(words["delivered"])
        expect(parcels.nth(1).locator(".status")).to_have_text(words["on_its_way"])
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(
            path=artifacts / f"tracking-parcels-delivered-{language}.png", full_page=True
        )
        page.context.close()
