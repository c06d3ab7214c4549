"""The simulated gateway: outcomes by card token or configured rate, and idempotency keys."""

import threading
import uuid
from decimal import Decimal

import pytest

from orderflow import settings as project_settings
from payments import gateway as gateway_module
from payments.gateway import (
    GateNeverOpened,
    GatewayGate,
    GatewayResult,
    SimulatedGateway,
    TransientGatewayError,
    get_gateway,
)
from tests.fixtures import wait_for

AMOUNT = Decimal("59.70")


@pytest.fixture
def key() -> str:
    """A fresh idempotency key: the gateway's records live in the shared cache."""
    return f"test-{uuid.uuid4()}"


def _authorize(gateway, token: str, key: str) -> GatewayResult:
    return gateway.authorize(token=token, amount=AMOUNT, currency="EUR", idempotency_key=key)


def test_tok_ok_is_authorized(key):
    result = _authorize(SimulatedGateway(), "tok_ok", key)

    assert (result.ok, result.decline_code, result.message) == (True, "", "")
    assert result.reference.startswith("sim_auth_")
    assert len(result.reference) == len("sim_auth_") + 20
    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        1,
        1,
    )


@pytest.mark.parametrize(
    ("token", "decline_code", "message"),
    [
        ("tok_declined", "card_declined", "The card was declined."),
        ("tok_insufficient", "insufficient_funds", "Insufficient funds."),
    ],
)
def test_a_declining_token_is_declined_and_takes_no_effect(key, token, decline_code, message):
    result = _authorize(SimulatedGateway(), token, key)

    assert result == GatewayResult(ok=False, decline_code=decline_code, message=message)
    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        1,
        0,
    )


@pytest.mark.parametrize(("operation", "prefix"), [("capture", "sim_cap_"), ("refund", "sim_ref_")])
def test_capture_and_refund_are_approved(key, operation, prefix):
    gateway = SimulatedGateway()
    send = gateway.capture if operation == "capture" else gateway.refund
    target = {"authorization": "sim_auth_1"} if operation == "capture" else {"capture": "sim_cap_1"}

    result = send(**target, amount=AMOUNT, currency="EUR", idempotency_key=key)

    assert result.ok
    assert result.reference.startswith(prefix)
    assert SimulatedGateway.effects(operation, key) == 1


def test_the_same_key_answers_the_first_result_and_takes_effect_once(key):
    gateway = SimulatedGateway()

    results = [_authorize(gateway, "tok_ok", key) for _ in range(3)]

    assert results[0].ok
    assert results == [results[0]] * 3
    assert SimulatedGateway.calls("authorize", key) == 3
    assert SimulatedGateway.effects("authorize", key) == 1


def test_a_replay_comes_from_the_record_even_through_another_instance(key):
    first = _authorize(SimulatedGateway(), "tok_ok", key)

    again = _authorize(SimulatedGateway(decline_rate=1.0), "tok_anything", key)

    assert again == first
    assert SimulatedGateway.effects("authorize", key) == 1


def test_a_decline_is_replayed_too(key):
    gateway = SimulatedGateway()
    first = _authorize(gateway, "tok_declined", key)

    again = _authorize(gateway, "tok_declined", key)

    assert again == first
    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        2,
        0,
    )


def test_another_key_is_another_charge(key):
    gateway = SimulatedGateway()
    other = f"{key}-other"

    first = _authorize(gateway, "tok_ok", key)
    second = _authorize(gateway, "tok_ok", other)

    assert first.reference != second.reference
    assert (
        SimulatedGateway.effects("authorize", key),
        SimulatedGateway.effects("authorize", other),
    ) == (
        1,
        1,
    )


def test_an_operation_counts_apart_from_the_others_under_one_key(key):
    gateway = SimulatedGateway()

    _authorize(gateway, "tok_ok", key)

    assert SimulatedGateway.calls("capture", key) == 0
    assert SimulatedGateway.effects("capture", key) == 0


def test_tok_timeout_fails_transiently_every_time(key):
    gateway = SimulatedGateway()

    for _ in range(3):
        with pytest.raises(TransientGatewayError, match="gateway timeout"):
            _authorize(gateway, "tok_timeout", key)

    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        3,
        0,
    )


def test_tok_flaky_fails_twice_then_succeeds_and_keeps_that_answer(key):
    gateway = SimulatedGateway()
    with pytest.raises(TransientGatewayError, match=r"flaky call 1\)"):
        _authorize(gateway, "tok_flaky", key)
    with pytest.raises(TransientGatewayError, match=r"flaky call 2\)"):
        _authorize(gateway, "tok_flaky", key)

    third = _authorize(gateway, "tok_flaky", key)
    fourth = _authorize(gateway, "tok_flaky", key)

    assert third.ok
    assert fourth == third
    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        4,
        1,
    )


def test_tok_flaky_counts_its_failures_per_key(key):
    gateway = SimulatedGateway()
    for _ in range(2):
        with pytest.raises(TransientGatewayError):
            _authorize(gateway, "tok_flaky", key)

    with pytest.raises(TransientGatewayError, match=r"flaky call 1\)"):
        _authorize(gateway, "tok_flaky", f"{key}-other")


def test_a_decline_rate_of_one_declines_any_other_token(key):
    result = _authorize(SimulatedGateway(decline_rate=1.0), "tok_visa_4242", key)

    assert result == GatewayResult(
        ok=False, decline_code="card_declined", message="The card was declined."
    )
    assert SimulatedGateway.effects("authorize", key) == 0


def test_an_error_rate_of_one_fails_any_other_token_transiently(key):
    gateway = SimulatedGateway(error_rate=1.0)

    with pytest.raises(TransientGatewayError, match="simulated"):
        _authorize(gateway, "tok_visa_4242", key)

    assert SimulatedGateway.effects("authorize", key) == 0


def test_zero_rates_approve_any_other_token(key):
    assert _authorize(SimulatedGateway(), "tok_visa_4242", key).ok


@pytest.mark.parametrize("rates", [{"decline_rate": 1.0}, {"error_rate": 1.0}])
def test_the_test_tokens_ignore_the_rates(key, rates):
    assert _authorize(SimulatedGateway(**rates), "tok_ok", key).ok


def test_the_configured_gateway_reads_the_decline_rate(settings, key):
    settings.PAYMENT_DECLINE_RATE = 1.0

    result = _authorize(get_gateway(), "tok_visa_4242", key)

    assert (result.ok, result.decline_code) == (False, "card_declined")


def test_the_configured_gateway_reads_the_error_rate(settings, key):
    settings.PAYMENT_ERROR_RATE = 1.0

    with pytest.raises(TransientGatewayError):
        _authorize(get_gateway(), "tok_visa_4242", key)


def _capture(gateway, key: str) -> GatewayResult:
    return gateway.capture(
        authorization="sim_auth_1", amount=AMOUNT, currency="EUR", idempotency_key=key
    )


def test_a_closed_gate_holds_the_call_until_the_test_opens_it(key):
    # given a closed capture gate, and a capture sent from another thread
    GatewayGate.close("capture", key)
    results: list[GatewayResult] = []
    call = threading.Thread(target=lambda: results.append(_capture(SimulatedGateway(), key)))
    call.start()
    try:
        wait_for(lambda: GatewayGate.held("capture", key), what="the capture to be held")

        # then, while held, the call has not decided anything
        assert (call.is_alive(), results, SimulatedGateway.effects("capture", key)) == (
            True,
            [],
            0,
        )
    finally:
        # when the gate opens
        GatewayGate.open("capture", key)
        call.join(timeout=60)

    # then the call answers, once, and is no longer held
    assert call.is_alive() is False
    assert [result.ok for result in results] == [True]
    assert (SimulatedGateway.effects("capture", key), GatewayGate.held("capture", key)) == (
        1,
        False,
    )


def test_a_gate_closed_for_any_key_holds_a_call_whose_key_the_test_cannot_know(key):
    # given the capture gate closed for every key (the order is not placed yet)
    GatewayGate.close("capture")
    results: list[GatewayResult] = []
    call = threading.Thread(target=lambda: results.append(_capture(SimulatedGateway(), key)))
    call.start()
    try:
        wait_for(lambda: GatewayGate.held("capture", key), what="the capture to be held")
        assert (results, SimulatedGateway.effects("capture", key)) == ([], 0)
    finally:
        # when the test opens it
        GatewayGate.open("capture")
        call.join(timeout=60)

    # then the held call goes through
    assert (call.is_alive(), [result.ok for result in results]) == (False, [True])
    assert SimulatedGateway.effects("capture", key) == 1


def test_a_gate_holds_only_its_own_operation_and_key(key, monkeypatch):
    # a closed gate elsewhere would fail at once here instead of holding the test
    monkeypatch.setattr(gateway_module, "GATE_TIMEOUT_SECONDS", 0)
    GatewayGate.close("capture", f"{key}-other")
    GatewayGate.close("authorize", key)

    result = _capture(SimulatedGateway(), key)

    assert result.ok
    assert SimulatedGateway.effects("capture", key) == 1


def test_a_gate_left_closed_fails_the_call_without_effect(key, monkeypatch):
    monkeypatch.setattr(gateway_module, "GATE_TIMEOUT_SECONDS", 0)
    GatewayGate.close("capture", key)

    with pytest.raises(GateNeverOpened, match=f"the capture gate for {key} stayed closed"):
        _capture(SimulatedGateway(), key)

    assert (SimulatedGateway.effects("capture", key), GatewayGate.held("capture", key)) == (
        0,
        False,
    )


def test_without_the_test_setting_a_closed_gate_holds_nothing(key, monkeypatch, settings):
    # production: PAYMENT_GATES is off (no environment variable turns it on)
    settings.PAYMENT_GATES = False
    monkeypatch.setattr(gateway_module, "GATE_TIMEOUT_SECONDS", 0)  # a held call would fail
    GatewayGate.close("capture", key)

    result = _capture(get_gateway(), key)

    assert result.ok
    assert SimulatedGateway.effects("capture", key) == 1


def test_gates_are_off_in_the_project_settings():
    assert project_settings.PAYMENT_GATES is False


@pytest.mark.parametrize("replay", [False, True], ids=["first call", "replay"])
def test_a_call_is_one_redis_command(key, settings, monkeypatch, replay):
    """Count, look up, store and count the effect: one EVALSHA per operation, no more."""
    import redis

    settings.PAYMENT_GATES = False  # the test-only gate lookup is not the gateway's
    gateway = SimulatedGateway()
    if replay:
        _authorize(gateway, "tok_ok", key)
    sent = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)

    result = _authorize(gateway, "tok_ok", key)

    assert result.ok
    assert sent == ["EVALSHA"]
    assert (
        SimulatedGateway.calls("authorize", key),
        SimulatedGateway.effects("authorize", key),
    ) == (
        2 if replay else 1,
        1,
    )
