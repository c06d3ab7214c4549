"""Staff pages in the staff member's language: the switch's choice, else the browser's.

The shops' API stays in English whatever the client's Accept-Language says.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.events.pump import drain
from orders import services as orders_services
from orders.services import returns
from orders.services.carriers import shop_carrier_bind
from testkit.factories import ProductFactory, ShopFactory, order_for

pytestmark = pytest.mark.django_db

PAGE = "/staff/failed-events"


@pytest.fixture
def supervisor_client() -> Client:
    user = get_user_model().objects.create_user(
        username="ana", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name="supervisor"))
    client = Client()
    client.force_login(user)
    return client


def test_a_browser_asking_for_portuguese_gets_the_staff_page_in_portuguese(supervisor_client):
    response = supervisor_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9,en;q=0.5")

    html = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "pt-br"
    assert '<html lang="pt-br">' in html
    assert "<h1>Eventos com falha</h1>" in html
    assert ">Painel</a>" in html
    assert "Nenhum evento com falha. Todos os eventos chegaram aos seus assinantes." in html
    # the switch offers the other language, named in it
    assert 'name="language" value="en" lang="en" class="link">English</button>' in html


def test_a_browser_asking_for_nothing_gets_english(supervisor_client):
    response = supervisor_client.get(PAGE)

    html = response.content.decode()
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in html
    assert "<h1>Failed event handling</h1>" in html
    assert 'value="pt-br" lang="pt-br" class="link">Português Brasileiro</button>' in html


def test_the_switch_keeps_the_choice_over_the_browsers(supervisor_client):
    # when the staff member picks Portuguese in the header of an English page
    switched = supervisor_client.post("/i18n/setlang/", {"language": "pt-br", "next": PAGE})

    assert switched.status_code == 302
    assert switched["Location"] == PAGE
    # then the pages are in Portuguese, though the browser asks for English
    response = supervisor_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Eventos com falha</h1>" in response.content.decode()


def test_a_message_is_in_the_page_language(supervisor_client):
    response = supervisor_client.post(
        PAGE, {"replay": "selected"}, HTTP_ACCEPT_LANGUAGE="pt-BR", follow=True
    )

    assert [str(message) for message in response.context["messages"]] == [
        "Escolha ao menos um evento com falha para reprocessar."
    ]


def test_the_api_answers_in_english_whatever_the_client_asks():
    response = Client().get("/api/v1/orders", HTTP_ACCEPT_LANGUAGE="pt-BR")

    assert response.status_code == 401
    assert "Content-Language" not in response
    assert response.json()["title"] == "Authentication required"


@pytest.mark.parametrize(
    ("path", "heading", "words"),
    [
        ("/staff/outbox/", "Caixa de saída", "Os e-mails são enviados por <code>"),
        (
            "/staff/webhook-inbox/",
            "Caixa de entrada de webhooks",
            "A caixa de entrada de webhooks está desligada",
        ),
    ],
)
def test_the_outbox_and_the_webhook_inbox_speak_portuguese(supervisor_client, path, heading, words):
    html = supervisor_client.get(path, HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()

    assert f"<h1>{heading}</h1>" in html
    assert words in html


def test_a_page_the_role_does_not_open_says_so_in_portuguese():
    user = get_user_model().objects.create_user(
        username="rui", password="a-long-password-42", is_staff=True
    )
    client = Client()
    client.force_login(user)

    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="pt-BR")

    html = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Sem permissão</h1>" in html
    assert "Nada foi alterado. Seus papéis são definidos na administração" in html


def test_choosing_orders_to_ship_speaks_portuguese(supervisor_client):
    html = supervisor_client.get(
        "/staff/orders/select-ship", HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()

    assert "<h1>Escolher pedidos para enviar</h1>" in html
    assert "<p>Nenhum pedido aguarda envio.</p>" in html


def test_shipping_from_a_csv_speaks_portuguese(supervisor_client):
    html = supervisor_client.get(
        "/staff/orders/bulk-ship", HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()

    assert "<h1>Enviar a partir de um CSV</h1>" in html
    assert 'aria-label="Enviar o CSV"' in html


def test_the_order_page_and_its_blocks_speak_portuguese(supervisor_client, settings):
    # given a paid order split in two parcels, one of them returned in part, and a note
    settings.CARRIER_SECRETS = {"demo-post": "test-carrier-secret-0123456789"}
    shop = ShopFactory(name="Demo Coffee")
    shop_carrier_bind(shop=shop, carrier="demo-post")
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=5)
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})
    drain(max_seconds=30)
    staff = orders_services.Actor(kind="staff", name="ana")
    for number, lines in (
        ("DPUX00001", [orders_services.ShipmentLineInput("MUG", 1)]),
        ("DPUX00002", None),
    ):
        orders_services.shipment_create(
            order_id=order.id,
            shop=None,
            actor=staff,
            carrier="demo-post",
            tracking_number=number,
            lines=lines,
        )
    returns.return_request(
        order_id=order.id,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=staff,
    )
    drain(max_seconds=30)
    supervisor_client.post(
        f"/staff/orders/{order.id}/notes", {"body": "Ligar antes."}, HTTP_ACCEPT_LANGUAGE="pt-BR"
    )

    # when the staff member opens it in a browser asking for Portuguese
    page = supervisor_client.get(f"/staff/orders/{order.id}", HTTP_ACCEPT_LANGUAGE="pt-BR")
    blocks = supervisor_client.get(
        f"/staff/orders/{order.id}/blocks", HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()

    # then every block, the live fragments too, is in Portuguese
    html = page.content.decode()
    assert f"<h1>Pedido {order.number} <span" in html
    assert '<h2 id="lines-title" style="padding: 1rem 1.25rem 0">Itens</h2>' in html
    assert '<th scope="col" class="num">Preço unitário</th>' in html
    assert '<h2 id="notes-title">Notas internas</h2>' in html
    assert ">Adicionar nota</button>" in html
    assert '<label for="id_body">Nova nota</label>' in html
    assert "Nota adicionada." in html
    assert '<h2 id="timeline-title">Histórico</h2>' in html
    assert 'data-text-location="Local: {location}"' in html
    assert 'data-text-refresh="atualizar este bloco"' in html
    for fragment in (html, blocks):
        assert '<h2 id="actions-title">Ações</h2>' in fragment
        assert ">Cancelar e reembolsar…</a>" in fragment
        assert '<h2 id="customer-title">Cliente</h2>' in fragment
        assert '<h2 id="summary-title">Resumo</h2>' in fragment
        assert "<dt>Pacotes</dt>" in fragment
        assert '<h2 id="payment-title">Pagamento</h2>' in fragment
        assert "Notas fiscais e notas de crédito" in fragment
        assert '<h2 id="returns-title">Devoluções</h2>' in fragment
        assert ">Devolução R1 <span" in fragment
        assert ">Aprovar</button>" in fragment
        assert '<h2 id="emails-title">E-mails ao cliente</h2>' in fragment
        assert '<h2 id="other-orders-title">Outros pedidos do cliente</h2>' in fragment
        assert "Nenhum outro pedido de ana@example.com nesta loja." in fragment
        assert "Ligar antes." in fragment


def test_the_new_order_form_and_an_actions_message_speak_portuguese(supervisor_client):
    shop = ShopFactory(name="Demo Coffee")
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    order = order_for(shop)
    drain(max_seconds=30)

    form = supervisor_client.get("/staff/orders/new", HTTP_ACCEPT_LANGUAGE="pt-BR")
    cancelled = supervisor_client.post(
        f"/staff/orders/{order.id}/cancel",
        {"reason": ""},
        HTTP_ACCEPT_LANGUAGE="pt-BR",
        follow=True,
    )

    html = form.content.decode()
    assert '<label for="id_customer_name">Nome do cliente</label>' in html
    assert "Duas letras maiúsculas (ISO 3166), por exemplo BR ou PT." in html
    assert ">Cartão que paga (tok_ok)</option>" in html
    assert '<button type="submit">Fazer o pedido</button>' in html
    assert [str(message) for message in cancelled.context["messages"]] == [
        "Cancelado; um pagamento capturado está sendo reembolsado."
    ]


def test_the_work_queues_and_a_refusal_speak_portuguese(supervisor_client):
    viewer = get_user_model().objects.create_user(
        username="vera", password="a-long-password-42", is_staff=True
    )
    viewer.groups.set(Group.objects.filter(name="viewer"))
    viewer_client = Client()
    viewer_client.force_login(viewer)

    board = supervisor_client.get("/staff/?queue=to-ship", HTTP_ACCEPT_LANGUAGE="pt-BR")
    refused = viewer_client.get("/staff/orders/new", HTTP_ACCEPT_LANGUAGE="pt-BR")

    html = board.content.decode()
    assert "<h1>A enviar</h1>" in html
    assert '<span class="what">Trabalho travado</span>' in html
    assert 'title="Pedidos confirmados com unidades ainda a entregar a uma transportadora"' in html
    assert refused.status_code == 403
    assert (
        "Seu papel não permite isto: fazer um pedido em nome de uma loja. "
        "Peça o papel operator ou superior."
    ) in refused.content.decode()
