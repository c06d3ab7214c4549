"""The SSRF guard: which webhook URLs the server may call, and connecting only where checked.

A shop chooses the URL, so the server must never be made to call itself, its private
network or a cloud metadata service. The check runs twice: at registration (a clear 400)
and at send time, because DNS answers change. At send time the check sits in the
connection itself (:class:`GuardedBackend`): the host is resolved once, every address is
checked, and the socket connects to a checked address — never to a second lookup that a
rebinding DNS server could answer differently. TLS still verifies the certificate and sends
SNI for the URL's host name, since only the TCP connect is pinned.

A URL is normalised before it is checked (:func:`normalize_url`): the HTTP client takes
ASCII only, so a name in another script is IDNA-encoded and anything else outside ASCII in
the path or query is percent-encoded. The resolver runs on a small pool of threads and is
waited for only as long as the caller's budget allows, because ``getaddrinfo`` itself has
no timeout and a hanging DNS server would otherwise hold the worker.
"""

import ipaddress
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from httpcore import ConnectError, NetworkStream, SyncBackend
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services; refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
#: What WEBHOOK_ALLOW_PRIVATE opens for development: RFC 1918 and unique-local IPv6.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")

_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why, in words for the shop."""


class UnresolvableHost(UnsafeUrl):
    """The host name does not resolve (refused at registration, retried at send time)."""


#: how long a lookup may take when the caller gives no budget (registration)
RESOLVE_TIMEOUT_SECONDS = 5.0
#: Lookups in flight at once per process. A lookup that outlives its caller's budget
#: keeps its thread until the resolver answers, and a host's callers share its lookup in
#: flight (:func:`resolve_within`): a host that hangs the resolver holds one thread,
#: however many deliveries and shops name it, and the other hosts keep resolving. Past
#: this many hanging hosts, new lookups wait in the queue and time out too, failing
#: attempts instead of holding workers or growing threads.
RESOLVER_THREADS = 16


def _new_resolver_pool() -> None:
    global _resolver_pool, _in_flight
    _resolver_pool = ThreadPoolExecutor(
        max_workers=RESOLVER_THREADS, thread_name_prefix="webhook-dns"
    )
    _in_flight = {}


_in_flight_lock = threading.Lock()
_new_resolver_pool()
# A forked worker (Celery prefork, gunicorn) inherits the pool but not its threads, and
# would queue every lookup behind threads that do not exist: it starts a pool of its own.
os.register_at_fork(after_in_child=_new_resolver_pool)


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def refusal_reason(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why the server must not connect to ``address``, or None if it may."""
    if address.version == 6 and address.ipv4_mapped:
        # ::ffff:a.b.c.d is the IPv4 address itself on a dual-stack socket
        return refusal_reason(address.ipv4_mapped, allow_private=allow_private)
    for inner in _embedded_ipv4(address):
        reason = refusal_reason(inner, allow_private=allow_private)
        if reason:
            return reason
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if any(address in network for network in PRIVATE_NETWORKS):
        return None if allow_private else "a private address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that an IPv6 address routes to through a gateway (6to4, Teredo, NAT64)."""
    if address.version != 6:
        return []
    found = [address.sixtofour]
    if address.teredo:
        found.extend(address.teredo)
    if address in NAT64_NETWORK:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host name spells directly, in any form a resolver would accept.

    Besides dotted quads and IPv6 this reads the forms ``inet_aton`` accepts — decimal
    (``2130706433``), hex (``0x7f000001``), octal (``0177.0.0.1``) and short (``127.1``) —
    so that they are judged as the address they are, not as names.
    """
    host = host.strip("[]")
    if "%" in host:  # an IPv6 zone id names an interface: link-local by definition
        host = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    values = [_ipv4_part_value(p) for p in parts]
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in leading:
        number = number << 8 | v
    number = number << 8 * (5 - len(values)) | last
    return ipaddress.IPv4Address(number)


def _ipv4_part_value(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


#: The resolver in use; a module attribute so that tests can point names anywhere.
resolve: Callable[[str, int], list[IPAddress]] = system_resolve


def resolve_within(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Resolve ``host`` through :data:`resolve`, waiting at most ``timeout`` seconds.

    A lookup of the same host and port already in flight is joined, not repeated.
    """
    key = (host, port)
    with _in_flight_lock:
        future = _in_flight.get(key)
        if future is None:
            future = _in_flight[key] = _resolver_pool.submit(resolve, host, port)
            started = True
        else:
            started = False
    if started:
        future.add_done_callback(partial(_forget, key))
    try:
        return future.result(timeout=max(timeout, 0))
    except FutureTimeout:
        # not cancelled: other callers may be waiting on the same lookup
        raise UnresolvableHost(
            f"The host {host!r} could not be resolved: DNS did not answer within {timeout:.1f} s."
        ) from None


def _forget(key: tuple[str, int], future: Future) -> None:
    with _in_flight_lock:
        if _in_flight.get(key) is future:
            del _in_flight[key]


def check_host(
    host: str, port: int, *, allow_private: bool, timeout: float | None = None
) -> tuple[IPAddress, ...]:
    """Resolve ``host`` and return its addresses if every one of them may be called.

    The lookup gets ``timeout`` seconds (RESOLVE_TIMEOUT_SECONDS if None); a lookup that
    takes longer is an :class:`UnresolvableHost`.
    """
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses = [literal]
    elif _is_localhost_name(host):
        addresses = [LOOPBACK]  # RFC 6761: whatever a resolver says, it is this machine
    else:
        try:
            addresses = resolve_within(
                host, port, RESOLVE_TIMEOUT_SECONDS if timeout is None else timeout
            )
        except (OSError, UnicodeError) as error:
            raise UnresolvableHost(f"The host {host!r} could not be resolved ({error}).") from None
        if not addresses:
            raise UnresolvableHost(f"The host {host!r} has no address.")
    for address in addresses:
        reason = refusal_reason(address, allow_private=allow_private)
        if reason:
            verb = "resolves to" if literal is None else "is"
            raise UnsafeUrl(f"The host {host!r} {verb} {address}, {reason}.")
    return tuple(dict.fromkeys(addresses))


def normalize_url(url: str) -> str:
    """Return ``url`` as the ASCII the HTTP client sends: IDNA host, percent-encoded rest.

    Refuse (``UnsafeUrl``) what is not plain http(s) or cannot be normalised. An ASCII
    URL comes back as it was, apart from the scheme and host in lower case; normalising
    a normalised URL changes nothing.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"Not a valid URL: {error}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeUrl("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Credentials in the URL are not allowed; the signature authenticates.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeUrl("The URL contains whitespace or control characters.")
    try:
        normalized = parse_url(url).url
    except (LocationParseError, UnicodeError, ValueError) as error:
        raise UnsafeUrl(f"The URL cannot be normalised: {error}.") from None
    if not normalized.isascii() or port != urlsplit(normalized).port:
        raise UnsafeUrl("The URL cannot be normalised to ASCII.")
    return normalized


def check_url(url: str, *, allow_private: bool, timeout: float | None = None) -> CheckedUrl:
    """Refuse a URL that is not plain http(s) to a host the server may call.

    The URL is normalised first (see :func:`normalize_url`); the result carries the
    normalised URL, which is the one to store and to call.
    """
    url = normalize_url(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = check_host(parts.hostname, port, allow_private=allow_private, timeout=timeout)
    return CheckedUrl(url=url, host=parts.hostname, port=port, addresses=addresses)


class GuardedBackend(SyncBackend):
    """An httpcore network backend that connects only to checked addresses.

    httpcore asks the backend to open a TCP connection to the URL's host; this backend
    resolves the host once, refuses it if any address is forbidden, and connects to the
    checked addresses themselves (the first that answers). TLS is started by httpcore on
    this stream with the URL's host name for SNI and certificate checks.
    """

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> NetworkStream:
        # one budget for the lookup and the connect: what the lookup takes, connect lacks
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = check_host(host, port, allow_private=self.allow_private, timeout=timeout)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address),
                    port,
                    timeout=None if deadline is None else max(deadline - time.monotonic(), 0.001),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except ConnectError as error:
                last_error = error
        raise last_error or ConnectError(f"Could not connect to {host}.")

    def connect_unix_socket(self, *args, **kwargs) -> NetworkStream:
        raise UnsafeUrl("Unix sockets are not allowed.")
