"""The SSRF guard: forbidden URLs are refused at registration and never connected to."""

import ipaddress
import os

import pytest

from notifications import services, ssrf
from notifications.choices import AttemptOutcome, SendStatus
from notifications.models import WebhookDelivery, WebhookEndpoint
from testkit.factories import order_for

from .api.assertions import assert_problem

FORBIDDEN = {
    # scheme
    "ftp://example.com/hook": "Only http and https",
    "file:///etc/passwd": "Only http and https",
    "gopher://example.com/": "Only http and https",
    "javascript:alert(1)": "Only http and https",
    "http:///no-host": "has no host",
    "https://user:secret@93.184.215.14/": "Credentials",
    # loopback, every spelling
    "http://127.0.0.1/": "loopback",
    "http://127.8.9.10:8080/": "loopback",
    "http://localhost/": "loopback",
    "http://LOCALHOST./": "loopback",
    "http://api.localhost/": "loopback",
    "http://2130706433/": "loopback",  # decimal
    "http://0x7f000001/": "loopback",  # hex
    "http://0x7f.0.0.1/": "loopback",
    "http://0177.0.0.1/": "loopback",  # octal
    "http://127.1/": "loopback",  # short form
    "http://[::1]/": "loopback",
    "http://[0:0:0:0:0:0:0:1]/": "loopback",
    "http://[::ffff:127.0.0.1]/": "loopback",  # IPv4-mapped
    "http://[::ffff:7f00:1]/": "loopback",
    "http://[64:ff9b::7f00:1]/": "loopback",  # NAT64
    "http://[2002:7f00:1::]/": "loopback",  # 6to4
    # private
    "http://10.0.0.1/": "private",
    "http://172.16.5.4/": "private",
    "http://192.168.1.1/": "private",
    "http://[fd12:3456::1]/": "private",
    "http://[::ffff:10.1.2.3]/": "private",
    "http://167772161/": "private",  # 10.0.0.1 in decimal
    # link-local and metadata
    "http://169.254.169.254/latest/meta-data/": "metadata",
    "http://[fd00:ec2::254]/": "metadata",
    "http://100.100.100.200/": "metadata",
    "http://169.254.1.1/": "link-local",
    "http://[fe80::1]/": "link-local",
    "http://[fe80::1%25eth0]/": "link-local",
    # multicast, unspecified, reserved
    "http://224.0.0.1/": "multicast",
    "http://[ff02::1]/": "multicast",
    "http://0.0.0.0/": "unspecified",
    "http://0/": "unspecified",
    "http://[::]/": "unspecified",
    "http://240.0.0.1/": "reserved",
    "http://255.255.255.255/": "reserved",
    "http://100.64.0.1/": "reserved",  # carrier-grade NAT
    "http://192.0.2.1/": "reserved",  # documentation
    "http://[2001:db8::1]/": "reserved",
}


@pytest.mark.parametrize(("url", "why"), FORBIDDEN.items())
def test_registration_refuses_a_forbidden_url_with_a_clear_400(api, url, why):
    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert why in body["detail"]
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("url", "unsafe_url")]
    assert not WebhookEndpoint.objects.exists()


@pytest.fixture
def resolve_to(monkeypatch):
    """Make DNS answer ``name`` with the given addresses (there is no DNS in the sandbox)."""
    answers: dict[str, list[str]] = {}

    def resolve(host: str, port: int):
        if host not in answers:
            raise OSError("no such host")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return answers


def test_a_name_resolving_to_a_private_address_is_refused(api, resolve_to):
    resolve_to["hooks.shop.example"] = ["93.184.215.14", "10.0.0.7"]

    response = api.post(
        "/api/v1/webhook-endpoints", {"url": "https://hooks.shop.example/in"}, format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["detail"] == (
        "The URL cannot be used for webhooks: The host 'hooks.shop.example' resolves to "
        "10.0.0.7, a private address."
    )


def test_a_name_that_does_not_resolve_is_refused(api, resolve_to):
    response = api.post(
        "/api/v1/webhook-endpoints", {"url": "https://nowhere.example/in"}, format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert "could not be resolved" in body["detail"]


@pytest.mark.parametrize(
    "url",
    ["https://93.184.215.14/hooks", "http://[2606:4700::1111]:8443/in", "https://shop.example/"],
)
def test_a_public_url_is_accepted(api, resolve_to, url):
    resolve_to["shop.example"] = ["93.184.215.14", "2606:4700::1111"]

    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["url"] == url


def test_allow_private_admits_loopback_and_private_but_never_metadata(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True

    for url in ["http://127.0.0.1:9000/", "http://[::1]:9000/", "http://192.168.1.5/"]:
        assert api.post("/api/v1/webhook-endpoints", {"url": url}, format="json").status_code == 201
    for url in ["http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/"]:
        response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")
        assert response.status_code == 400, url


def _canary_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://rebound.example:{port}/",
    ]


def test_send_time_guard_refuses_every_form_and_the_canary_hears_nothing(
    shop, products, canary, resolve_to, settings, run_events, send_webhooks
):
    # Registered while the name pointed at a public address (or while private addresses
    # were allowed); by send time DNS says loopback and the guard is on.
    resolve_to["rebound.example"] = ["93.184.215.14"]
    settings.WEBHOOK_ALLOW_PRIVATE = True
    urls = _canary_urls(canary.port)
    for url in urls:
        services.webhook_endpoint_create(shop_id=shop.pk, url=url, event_types=["order.placed"])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    resolve_to["rebound.example"] = ["127.0.0.1"]
    order_for(shop)
    run_events()

    result = send_webhooks()

    assert result.failed == len(urls)
    assert canary.connections == 0
    for delivery in WebhookDelivery.objects.select_related("endpoint"):
        attempt = delivery.log.get()
        assert delivery.status == SendStatus.FAILED
        assert attempt.outcome == AttemptOutcome.FAILED
        assert attempt.error.startswith("Refused: The host"), attempt.error
        assert "a loopback address" in attempt.error


def test_the_connection_goes_to_the_checked_address_with_the_urls_host(
    shop, products, receiver, resolve_to, allow_private, run_events, send_webhooks
):
    resolve_to["hooks.shop.example"] = ["127.0.0.1"]
    _endpoint, secret = services.webhook_endpoint_create(
        shop_id=shop.pk,
        url=f"http://hooks.shop.example:{receiver.port}/in",
        event_types=["order.placed"],
    )
    receiver.secrets["/in"] = secret
    order_for(shop)
    run_events()

    assert send_webhooks().sent == 1

    [request] = receiver.received
    assert request.headers["Host"] == f"hooks.shop.example:{receiver.port}"
    assert request.verified


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://93.184.216.34/ü", "https://93.184.216.34/%C3%BC"),
        (
            "https://Bücher.Example/ä|x?q=ü&x=%41",
            "https://xn--bcher-kva.example/%C3%A4%7Cx?q=%C3%BC&x=%41",
        ),
        ("https://xn--bcher-kva.example/%zz", "https://xn--bcher-kva.example/%25zz"),
    ],
)
def test_registration_normalises_the_url_to_what_the_client_sends(api, resolve_to, url, stored):
    # given a host name that resolves to a public address
    resolve_to["xn--bcher-kva.example"] = ["93.184.215.14"]

    # when a URL with non-ASCII or stray characters is registered
    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    # then the normalised URL is stored and shown, and normalising it again changes nothing
    assert response.status_code == 201, response.content
    assert response.json()["url"] == stored
    assert WebhookEndpoint.objects.get().url == stored
    assert ssrf.normalize_url(stored) == stored


@pytest.mark.parametrize(
    "url", ["https://⒈.example/", "https://a\u200b.example/", "https://\U0001f600.example/"]
)
def test_a_url_that_cannot_be_normalised_is_a_400_naming_the_url(api, url):
    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("url", "unsafe_url")]
    assert "is not a valid IDNA label" in body["errors"][0]["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_a_url_too_long_once_percent_encoded_is_a_400(api):
    url = "https://93.184.215.14/" + "ü" * 400  # 422 characters, 2422 once encoded

    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("url", "max_length")]
    assert not WebhookEndpoint.objects.exists()


def test_a_forked_worker_resolves_on_a_pool_of_its_own(monkeypatch):
    # given a process whose resolver pool has started its threads
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [ipaddress.ip_address("93.184.215.14")])
    assert ssrf.resolve_within("shop.example", 443, 5.0) == [ipaddress.ip_address("93.184.215.14")]

    # when it forks (as Celery's prefork pool does) and the child looks a name up
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the lookup is answered
        try:
            ssrf.resolve_within("shop.example", 443, 5.0)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)

    # then the child's lookup was answered, not queued behind its parent's threads
    assert os.waitstatus_to_exitcode(status) == 0
