"""X-Forwarded-For is believed only from configured proxies (Gancio trusts it from anyone, §3.8)."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from piazza.config import Config
from piazza.limits.clientip import client_address, parse_networks
from tests.limits.conftest import limited_app, peer

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


def scope(peer_address, forwarded=None):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer_address, 1234), "headers": headers}


def test_the_peer_address_is_used_without_trusted_proxies():
    assert client_address(scope("192.0.2.1", "198.51.100.9"), ()) == "192.0.2.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    assert client_address(scope("192.0.2.1", "198.51.100.9"), PROXIES) == "192.0.2.1"


def test_forwarded_for_from_a_trusted_proxy_names_the_client():
    assert client_address(scope("10.1.2.3", "198.51.100.9"), PROXIES) == "198.51.100.9"


def test_addresses_a_client_wrote_before_the_proxies_are_ignored():
    # The client sent "X-Forwarded-For: 1.1.1.1"; our two proxies appended what they saw.
    assert client_address(scope("10.0.0.2", "1.1.1.1, 198.51.100.9, 10.0.0.1"), PROXIES) == "198.51.100.9"


def test_a_garbled_forwarded_for_falls_back_to_the_last_good_hop():
    assert client_address(scope("10.0.0.2", "nonsense"), PROXIES) == "10.0.0.2"


def test_ipv6_clients_are_counted_by_their_slash_64():
    assert client_address(scope("2001:db8::1"), ()) == "2001:db8::/64"
    assert client_address(scope("::ffff:192.0.2.1"), ()) == "192.0.2.1"


def test_trusted_proxies_config_rejects_a_bad_entry():
    with pytest.raises(ValidationError, match="not an IP address or network: 'proxy.example'"):
        Config(trusted_proxies="10.0.0.1, proxy.example")
    assert Config(trusted_proxies="10.0.0.1, 192.168.0.0/16").trusted_proxies == "10.0.0.1, 192.168.0.0/16"


def test_a_spoofed_forwarded_for_does_not_buy_a_fresh_count(storage):
    with TestClient(limited_app(storage)) as client:
        for attempt in range(6):
            headers = {**peer("192.0.2.1"), "X-Forwarded-For": f"198.51.100.{attempt}"}
            assert client.post("/api/client", headers=headers).status_code == 200
        headers = {**peer("192.0.2.1"), "X-Forwarded-For": "198.51.100.77"}
        assert client.post("/api/client", headers=headers).status_code == 429


def test_clients_behind_a_trusted_proxy_are_counted_apart(storage):
    with TestClient(limited_app(storage, trusted_proxies=PROXIES)) as client:
        for _ in range(6):
            client.post("/api/client", headers={**peer("10.0.0.1"), "X-Forwarded-For": "198.51.100.1"})
        blocked = client.post("/api/client", headers={**peer("10.0.0.1"), "X-Forwarded-For": "198.51.100.1"})
        other = client.post("/api/client", headers={**peer("10.0.0.1"), "X-Forwarded-For": "198.51.100.2"})
    assert blocked.status_code == 429
    assert other.status_code == 200
