"""Why a signed request was refused, in OKX API v5's own codes and words.

Clients (python-okx, ccxt) map these codes to their exception types, so the code, the message and the HTTP
status are kept exactly as OKX sends them. Messages with a placeholder are formatted by `AuthRejected`.
"""

from __future__ import annotations

from enum import Enum

from bastion.errors import BastionError, InvalidInputError, NotFoundError


class Rejection(Enum):
    """(code, message, HTTP status) for each way authentication can fail."""

    # OKX's "Account blocked": the account is frozen (the user, an operator or the risk engine froze it). OKX
    # answers it with HTTP 200; here it refuses a credential, so 401 like every other refusal above.
    ACCOUNT_FROZEN = ("50007", "Account blocked.", 401)
    RATE_LIMITED = ("50011", "Too Many Requests", 429)
    # OKX's code for a frozen key; here: too many wrong passphrases, for a while (PASSPHRASE_LOCK).
    KEY_FROZEN = ("50100", "API frozen, please contact customer service.", 401)
    TIMESTAMP_EXPIRED = ("50102", "Timestamp request expired", 401)
    KEY_MISSING = ("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
    PASSPHRASE_MISSING = ("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401)
    PASSPHRASE_WRONG = ("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
    SIGN_MISSING = ("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.', 401)
    TIMESTAMP_MISSING = ("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', 401)
    IP_NOT_ALLOWED = ("50110", "Your IP {ip} is not included in your API key's IP whitelist.", 401)
    KEY_INVALID = ("50111", "Invalid OK-ACCESS-KEY.", 401)
    TIMESTAMP_INVALID = ("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401)
    SIGN_INVALID = ("50113", "Invalid Sign.", 401)
    # OKX has no dedicated code for a replayed request; 50114 is its generic "invalid authorization".
    REPLAYED = ("50114", "Invalid Authority.", 401)
    KEY_NOT_FOUND = ("50119", "API key doesn't exist.", 401)
    NO_PERMISSION = ("50120", "API key doesn't have permission.", 401)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]

    @property
    def http_status(self) -> int:
        return self.value[2]


class AuthRejected(Exception):
    """A signed request was refused; carries the OKX code and a ready-to-send message."""

    def __init__(self, reason: Rejection, *, ip: str = "", key_id: str | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        self.ip = ip
        self.msg = reason.message.format(ip=ip) if "{ip}" in reason.message else reason.message
        super().__init__(f"{reason.code} {self.msg}")

    def body(self) -> dict[str, object]:
        """The JSON body OKX sends with an error: code as a string, message, empty data."""
        return {"code": self.reason.code, "msg": self.msg, "data": []}


class KeyInputError(InvalidInputError):
    """Bad input to a key operation (create, update IPs, Fast API); names the field at fault."""


class KeyNotFound(NotFoundError):
    """No live key with that id belongs to that user (another user's key looks exactly like a missing one)."""


class SecondFactorRejected(BastionError):
    """A withdraw-permission key was asked for without a valid TOTP code."""


class FastApiDenied(BastionError):
    """The Fast API flow refused a request; `error` is an OAuth 2.0 error word (invalid_grant, ...)."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}")
