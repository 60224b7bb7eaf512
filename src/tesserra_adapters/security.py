"""argon2id passwords, HMAC-SHA256 secret digests, HS256 access tokens (pyjwt) and HMAC-signed sandbox
proxy tokens."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

import jwt
import msgspec
from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from tesserra_core.domain.structs import by_name
from tesserra_core.errors import Unauthenticated
from tesserra_core.ports.security import AccessClaims, ProxyClaims


class Argon2Hasher:
    """argon2id; verification runs in a worker thread so the event loop keeps serving."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19_456, parallelism: int = 1) -> None:
        # OWASP's minimum for argon2id: m=19 MiB, t=2, p=1 (~35 ms here).
        self._argon = Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID)
        # What ``burn`` verifies against: a well-formed argon2id hash with these parameters (a zero
        # salt and digest). A verify costs what the parameters say, whatever the digest, so this
        # burns exactly what a real verify does, and start-up hashes nothing (~35 ms, 19 MiB).
        self._dummy = f"$argon2id$v=19$m={memory_cost},t={time_cost},p={parallelism}${'A' * 22}${'A' * 43}"

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        await asyncio.to_thread(self._verify, self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class HmacDigest:
    """HMAC-SHA256 under a server secret: fast (~2 µs), keyed, one-way. For high-entropy secrets only."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)


class JwtIssuer:
    """HS256 access tokens with jti, iat, exp, tenant, role and session (refresh family)."""

    algorithm = "HS256"

    def __init__(self, key: bytes, issuer: str = "tesserra", leeway: float = 5.0) -> None:
        self._key = key
        self._issuer = issuer
        self._leeway = leeway

    def issue(self, claims: AccessClaims) -> str:
        payload = {
            "iss": self._issuer,
            "sub": claims.user_id,
            "jti": claims.token_id,
            "tid": claims.tenant_id,
            "sid": claims.session_id,
            "role": claims.role,
            "adm": claims.platform_admin,
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "typ": "access",
        }
        return jwt.encode(payload, self._key, algorithm=self.algorithm)

    def looks_like_token(self, credential: str) -> bool:
        return credential.count(".") == 2 and credential.startswith("eyJ")

    def decode(self, token: str) -> AccessClaims:
        try:
            data = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "jti", "tid", "sid", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid access token", code="invalid_token") from None
        if data.get("typ") != "access":
            raise Unauthenticated("invalid access token", code="invalid_token")
        try:
            return AccessClaims(
                token_id=str(data["jti"]),
                user_id=str(data["sub"]),
                tenant_id=str(data["tid"]),
                session_id=str(data["sid"]),
                role=str(data.get("role", "")),
                platform_admin=bool(data.get("adm", False)),
                issued_at=datetime.fromtimestamp(int(data["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
            )
        except (TypeError, ValueError):
            raise Unauthenticated("invalid access token", code="invalid_token") from None


class _ProxyWire(msgspec.Struct, frozen=True, array_like=True):
    """A proxy token's signed payload: the claims in order as a JSON array (it travels in headers, URLs
    and cookies), the expiry in whole seconds."""

    token_id: str
    sandbox_id: str
    tenant_id: str
    user_id: str
    generation: int
    epoch: int
    ports: tuple[int, ...]
    expires_at: int


_PROXY_WIRE = msgspec.json.Decoder(_ProxyWire)
_INVALID_PROXY_TOKEN = "invalid proxy token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HmacProxyTokens:
    """``tsp_<payload>.<signature>``: the claims as JSON, signed with HMAC-SHA256 under a key of their
    own (base64url both). Whatever does not verify is ``invalid_proxy_token``, with no detail."""

    prefix = "tsp_"
    max_length = 2048

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, claims: ProxyClaims) -> str:
        wire = by_name(_ProxyWire, claims, expires_at=int(claims.expires_at.timestamp()))
        payload = msgspec.json.encode(wire)
        return f"{self.prefix}{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, token: str) -> ProxyClaims:
        if len(token) > self.max_length or not token.startswith(self.prefix) or token.count(".") != 1:
            raise Unauthenticated(_INVALID_PROXY_TOKEN, code="invalid_proxy_token")
        body, _, signature = token[len(self.prefix) :].partition(".")
        try:
            payload, mac = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise Unauthenticated(_INVALID_PROXY_TOKEN, code="invalid_proxy_token") from None
        if not hmac.compare_digest(mac, self._sign(payload)):
            raise Unauthenticated(_INVALID_PROXY_TOKEN, code="invalid_proxy_token")
        try:
            wire = _PROXY_WIRE.decode(payload)
            expires_at = datetime.fromtimestamp(wire.expires_at, UTC)
        except (msgspec.DecodeError, ValueError, OverflowError, OSError):
            raise Unauthenticated(_INVALID_PROXY_TOKEN, code="invalid_proxy_token") from None
        return by_name(ProxyClaims, wire, expires_at=expires_at)
