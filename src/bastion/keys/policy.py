"""What a key may do and from where: permissions, the IP allowlist, and which keys the sweeper deletes."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from bastion.keys.errors import KeyInputError

MAX_IPS = 20
# An idle key with trade or withdraw power and no IP binding is deleted after this long (exchange policy).
IDLE_LIMIT = timedelta(days=14)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Permission(StrEnum):
    READ = "read"
    TRADE = "trade"
    WITHDRAW = "withdraw"

    @property
    def okx_name(self) -> str:
        """OKX calls the read permission `read_only`."""
        return "read_only" if self is Permission.READ else self.value


_ORDER = (Permission.READ, Permission.TRADE, Permission.WITHDRAW)
# Permissions a key can lose money with; only these keys are swept when idle and unbound.
DANGEROUS = frozenset({Permission.TRADE, Permission.WITHDRAW})


def parse_permissions(values: Iterable[str], field: str = "perms") -> frozenset[Permission]:
    """Parse "read", "trade", "withdraw" (or "read_only"), comma-separated or listed; read is implied."""
    perms = {Permission.READ}
    for i, raw in enumerate(part.strip().lower() for value in values for part in value.split(",")):
        if not raw:
            continue
        if raw == "read_only":
            raw = "read"
        try:
            perms.add(Permission(raw))
        except ValueError:
            raise KeyInputError(
                f"{field}[{i}]", f"unknown permission {raw!r} (choose from read, trade, withdraw)"
            ) from None
    return frozenset(perms)


def permissions_text(perms: Iterable[Permission]) -> str:
    """Stable comma-separated form for storage: read,trade,withdraw order."""
    have = set(perms)
    return ",".join(p.value for p in _ORDER if p in have)


def okx_permissions_text(perms: Iterable[Permission]) -> str:
    have = set(perms)
    return ",".join(p.okx_name for p in _ORDER if p in have)


def parse_allowlist(entries: Sequence[str], field: str = "ips") -> list[IpNetwork]:
    """Up to 20 IP addresses or CIDR ranges, v4 or v6. Host bits set in a range are an error (a typo guard:
    10.0.0.5/8 is more likely a mistake than a wish to allow all of 10/8)."""
    if len(entries) > MAX_IPS:
        raise KeyInputError(field, f"at most {MAX_IPS} IP addresses or ranges, got {len(entries)}")
    networks: list[IpNetwork] = []
    for i, raw in enumerate(entries):
        text = raw.strip()
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise KeyInputError(
                f"{field}[{i}]", f"{raw!r} is not an IP address or CIDR range ({exc})"
            ) from None
        net = _unmap(net)
        if net.prefixlen == 0:
            raise KeyInputError(f"{field}[{i}]", f"{raw!r} allows every address; bind the key to real ranges")
        if net not in networks:
            networks.append(net)
    return networks


def _unmap(net: IpNetwork) -> IpNetwork:
    """::ffff:a.b.c.d/128 names an IPv4 address: store it as one so it matches v4 clients."""
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped and net.prefixlen >= 96:
        v4 = net.network_address.ipv4_mapped
        return ipaddress.ip_network(f"{v4}/{net.prefixlen - 96}")
    return net


def allowlist_text(networks: Iterable[IpNetwork]) -> str:
    """Comma-separated, single addresses without their /32 or /128, as OKX shows a key's `ip` field."""
    parts = []
    for n in networks:
        full = n.max_prefixlen == n.prefixlen
        parts.append(str(n.network_address) if full else str(n))
    return ",".join(parts)


def ip_allowed(networks: Sequence[IpNetwork], client_ip: str) -> bool:
    """True when the key has no allowlist, or the client's address falls in one of its entries.

    An unparseable client address is never allowed by a non-empty list; IPv4-mapped IPv6 addresses
    (::ffff:1.2.3.4, what a dual-stack socket reports) are checked as the IPv4 address they carry.
    """
    if not networks:
        return True
    addr = _client_address(client_ip)
    if addr is None:
        return False
    return any(addr.version == n.version and addr in n for n in networks)


@functools.lru_cache(maxsize=4096)
def _client_address(client_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a client IP string names (IPv4-mapped IPv6 as its IPv4), None when it names none. Cached:
    a service sees the same few clients again and again, and parsing costs more than the rest of the check."""
    try:
        addr = ipaddress.ip_address(client_ip.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


# The most an allowlist may cover, per address family, and still count as binding the key to the user's
# servers: a /8 of IPv4 (16.7 M addresses, already a large ISP), a /32 of IPv6 (one ISP's whole allocation).
# Counted over all entries together, so 0.0.0.0/1 + 128.0.0.0/1 (the whole internet, split) is not bound.
MAX_BOUND_V4 = 2**24
MAX_BOUND_V6 = 2**96


def ip_bound(networks: Sequence[IpNetwork]) -> bool:
    """True when the allowlist really restricts where the key works from: not empty, and covering at most
    MAX_BOUND_V4 IPv4 plus MAX_BOUND_V6 IPv6 addresses in total (overlapping entries counted once)."""
    if not networks:
        return False
    v4 = list(ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network)))
    v6 = list(ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network)))
    return sum(n.num_addresses for n in v4) <= MAX_BOUND_V4 and sum(n.num_addresses for n in v6) <= MAX_BOUND_V6


def sweepable(
    perms: Iterable[Permission],
    bound: bool,
    created_at: datetime,
    last_used_at: datetime | None,
    now: datetime,
    idle_limit: timedelta = IDLE_LIMIT,
) -> bool:
    """The exchange's rule: trade or withdraw permission, not IP-bound (no allowlist, or one so broad it binds
    nothing: see `ip_bound`), unused for 14 days or more (a key never used counts from its creation)."""
    if bound or not DANGEROUS.intersection(perms):
        return False
    last = last_used_at or created_at
    return now - last >= idle_limit
