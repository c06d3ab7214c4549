"""The bad-input corpus against both run modes: refused with a clear 4xx, never a 5xx.

Every case of ``corpus.CORPUS`` is its own test, once per run mode (``[full-…]``,
``[embedded-…]``). For each: no 5xx; the status the case expects; under ``/api/`` an RFC
9457 ``application/problem+json`` body whose ``status`` member is the response's; and the
watched tables exactly as they were (orders, lines, transitions, products, shops, webhook
endpoints; no event published), unless the case may be accepted (a webhook URL that is
normalised), which the harness then deletes again.
"""

import json

import pytest

from .corpus import CORPUS, Case
from .live import Answer, Target

PROBLEM_MEMBERS = {"type", "title", "status", "detail"}
#: close codes of a socket that ended on purpose (not 1006 abnormal, not 1011 a crash)
CLEAN_CLOSE_CODES = {1000, 1003, 1007, 1008, 1009, *range(4000, 5000)}

HTTP_CASES = [case for case in CORPUS if case.ws is None]
SOCKET_CASES = [case for case in CORPUS if case.ws is not None]


def _problem_defects(answer: Answer) -> list[str]:
    """What keeps ``answer`` from being an RFC 9457 problem document."""
    if answer.content_type.split(";")[0].strip() != "application/problem+json":
        return [f"content type {answer.content_type!r}, not application/problem+json"]
    try:
        body = json.loads(answer.body)
    except ValueError:
        return [f"a problem body that is not JSON: {answer.body[:200]!r}"]
    if not isinstance(body, dict):
        return [f"a problem body that is not an object: {body!r}"[:300]]
    defects = []
    missing = PROBLEM_MEMBERS - body.keys()
    if missing:
        defects.append(f"problem members missing: {sorted(missing)}")
    if body.get("status") != answer.status:
        defects.append(f"problem status {body.get('status')!r} != HTTP {answer.status}")
    return defects


def _undo(target: Target, case: Case, answer: Answer) -> list[str]:
    """Remove what an accepted ``may_succeed`` case created, checking it was normalised."""
    created = answer.json()
    defects = []
    url = created.get("url", "") if isinstance(created, dict) else ""
    if not url.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in url):
        defects.append(f"the URL was stored as sent, not normalised: {url!r}")
    target.request("DELETE", f"/api/v1/webhook-endpoints/{created['id']}")
    return defects


@pytest.mark.parametrize("case", HTTP_CASES, ids=[case.id for case in HTTP_CASES])
def test_malformed_request_is_refused_without_a_change(target: Target, case: Case):
    # given the seeded rows
    before = target.fingerprint()

    # when the malformed request is sent
    answer = target.send(case)

    # then it is refused as the case expects, in the API's format, and nothing changed
    defects = []
    path = target.fill(case.path)
    refused_by_http_server = (
        case.malformed_http
        and answer.status in (0, 400, 413, 414, 431)
        and "problem+json" not in answer.content_type
    )
    if answer.status >= 500 or (answer.status == 0 and not case.malformed_http):
        defects.append(f"server error {answer.status or 'no response'}")
    if answer.status not in case.expect and not refused_by_http_server:
        defects.append(f"status {answer.status}, expected {_expected(case)}")
    if path.startswith("/api/") and answer.status >= 400 and not refused_by_http_server:
        defects += _problem_defects(answer)
    if case.may_succeed and 200 <= answer.status < 300:
        defects += _undo(target, case, answer)
    else:
        # refused, or a read answered: either way nothing may have changed
        after = target.fingerprint()
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        if changed:
            defects.append(f"the data changed: {changed}")
    assert defects == [], (
        f"{case.method} {path[:200]} ({target.mode} mode) answered {answer.status} "
        f"{answer.content_type}: {answer.body[:400]!r}"
        + (f"\nserver log:\n{target.logs(40)}" if answer.status >= 500 else "")
    )


@pytest.mark.parametrize("case", SOCKET_CASES, ids=[case.id for case in SOCKET_CASES])
def test_malformed_socket_is_refused_or_served_cleanly(target: Target, case: Case):
    # given the seeded rows
    before = target.fingerprint()

    # when the socket is opened and the case's messages are sent
    outcome = target.open_socket(case)

    # then the server refused it, or served it and survived the messages, changing nothing
    refused = outcome.handshake_status in (400, 403, 404) or (
        outcome.handshake_status == 101
        and outcome.first_frame is None
        and outcome.close_code in CLEAN_CLOSE_CODES
    )
    # a message over the WebSocket server's size limit may make it drop the connection
    clean_close_codes = CLEAN_CLOSE_CODES | ({1006} if case.malformed_http else set())
    served = (
        outcome.handshake_status == 101
        and (outcome.first_frame or {}).get("type") == "snapshot"
        and (outcome.answered_after_messages or outcome.close_code in clean_close_codes)
    )
    expected = {"refused": refused, "served": served, "clean": refused or served}[case.ws]
    assert (expected, target.fingerprint()) == (True, before), (
        f"{case.ws} expected for {target.fill(case.path)[:200]} ({target.mode} mode): "
        f"{outcome.describe()}\nserver log:\n{target.logs(40)}"
    )


def _expected(case: Case) -> str:
    expect = case.expect
    if isinstance(expect, range):
        return f"{expect.start}-{expect.stop - 1}"
    return "/".join(str(code) for code in expect)
