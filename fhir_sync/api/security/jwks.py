"""Clients' public keys (JWKS): checked when a client is registered, chosen per assertion, and
fetched from the client's JWKS URL when it publishes them there.

Registration refuses anything an assertion could not be verified with, or should not be: a
JWKS holding private key material (the client's secret would now sit in our database), RSA
keys under 2048 bits, EC keys not on P-384 (ES384 needs it), keys without a `kid` (SMART
assertions name theirs).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ALGORITHMS: Final = ("RS384", "ES384")
_KEY_TYPES: Final = {"RS384": "RSA", "ES384": "EC"}
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MAX_JWKS_BYTES: Final = 256 * 1024
Jwk = dict[str, Any]


class JwksError(ValueError):
    """The JWKS (or one of its keys) cannot be used; the message says why."""


def parse_jwks(text: str) -> list[Jwk]:
    """The keys of a JWKS document, each checked to be a usable public signing key."""
    try:
        document = json.loads(text)
    except ValueError:
        raise JwksError("not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise JwksError('not a JWKS: no "keys" list, or an empty one')
    for key in keys:
        check_key(key)
    kids = [key["kid"] for key in keys]
    if len(set(kids)) != len(kids):
        raise JwksError("two keys share a kid")
    return keys


def check_key(key: object) -> None:
    if not isinstance(key, dict):
        raise JwksError("a key is not a JSON object")
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwksError("a key has no kid")
    if any(member in key for member in _PRIVATE_MEMBERS):
        raise JwksError(f"key {kid} holds private key material: register the public JWKS")
    kty = key.get("kty")
    if kty not in ("RSA", "EC"):
        raise JwksError(f"key {kid}: kty must be RSA or EC")
    alg = key.get("alg")
    if alg is not None and alg not in ALGORITHMS:
        raise JwksError(f"key {kid}: alg must be RS384 or ES384")
    if key.get("use", "sig") != "sig":
        raise JwksError(f"key {kid}: use must be sig")
    try:
        public = jwt.PyJWK(key, algorithm="RS384" if kty == "RSA" else "ES384").key
    except (jwt.PyJWKError, ValueError, TypeError) as exc:
        raise JwksError(f"key {kid} cannot be loaded ({type(exc).__name__})") from None
    if isinstance(public, RSAPublicKey) and public.key_size < 2048:
        raise JwksError(f"key {kid}: RSA keys must have at least 2048 bits")
    if isinstance(public, EllipticCurvePublicKey) and public.curve.name != "secp384r1":
        raise JwksError(f"key {kid}: EC keys must be on P-384 (ES384)")


def verification_keys(keys: list[Jwk], kid: str, alg: str) -> list[jwt.PyJWK]:
    """The keys that may have signed an assertion with header `kid` and `alg`."""
    found = []
    for key in keys:
        if not isinstance(key, dict) or key.get("kid") != kid:
            continue
        if key.get("kty") != _KEY_TYPES[alg] or key.get("alg", alg) != alg:
            continue
        if key.get("use", "sig") != "sig" or "verify" not in key.get("key_ops", ["verify"]):
            continue
        try:
            found.append(jwt.PyJWK(key, algorithm=alg))
        except (jwt.PyJWKError, ValueError, TypeError):
            continue
    return found


def check_jwks_url(url: str) -> None:
    """HTTPS, or plain HTTP to this machine only (a local key service, tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise JwksError("the JWKS URL must be https:// (or http:// to localhost)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksFetcher:
    """Keys published at clients' JWKS URLs, cached for `ttl` seconds per URL.

    A key id the cached set lacks triggers one early refetch (the client rotated its keys),
    but at most once per `min_refetch` seconds per URL, so assertions with made-up key ids
    cannot make the server hammer a client's key service.

    A key service that hangs must not take the token endpoint with it: a fetch gives up after
    `timeout` seconds, its failure is remembered for `failure_ttl` seconds (assertions naming
    that client fail at once meanwhile), and only one fetch per URL runs at a time: a request
    arriving while one is under way is answered with the cached keys when there are any, and
    refused otherwise, rather than holding another worker thread for the same wait. The
    caller holds no database connection while fetching (assertions.py).
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        min_refetch: float = 10.0,
        timeout: float = 2.0,
        failure_ttl: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._timeout = timeout
        self._failure_ttl = failure_ttl
        self._transport = transport
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Jwk]]] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._fetching: set[str] = set()
        self._lock = threading.Lock()

    def keys(self, url: str, *, want_kid: str | None = None) -> list[Jwk]:
        """The URL's keys; JwksError when they cannot be fetched or are not a JWKS."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                fetched_at, keys = cached
                fresh = now - fetched_at < self._ttl
                has_kid = want_kid is None or any(k.get("kid") == want_kid for k in keys)
                if fresh and (has_kid or now - fetched_at < self._min_refetch):
                    return keys
            failed = self._failed.get(url)
            if failed is not None and now - failed[0] < self._failure_ttl:
                raise JwksError(f"{failed[1]} (failed moments ago; not retried yet)")
            if url in self._fetching:
                if cached is not None:
                    return cached[1]
                raise JwksError("the JWKS URL is being fetched for another request")
            self._fetching.add(url)
        try:
            keys = self._fetch(url)
        except JwksError as exc:
            with self._lock:
                self._failed[url] = (self._clock(), str(exc))
            raise
        finally:
            with self._lock:
                self._fetching.discard(url)
        with self._lock:
            self._cache[url] = (now, keys)
            self._failed.pop(url, None)
        return keys

    def _fetch(self, url: str) -> list[Jwk]:
        check_jwks_url(url)
        try:
            with (
                httpx.Client(
                    transport=self._transport, timeout=self._timeout, follow_redirects=False
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise JwksError(f"the JWKS URL answered HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise JwksError("the JWKS document is too large")
        except httpx.HTTPError as exc:
            raise JwksError(f"the JWKS URL could not be fetched ({type(exc).__name__})") from None
        return parse_jwks(body.decode("utf-8", errors="replace"))
