"""The request's context (scheme, source address, caller) that policy conditions are evaluated against."""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    """What AWS knows about a request when it evaluates a policy (the global condition keys we can know)."""

    secure_transport: bool
    source_ip: str
    account_id: str | None  # None: an unsigned (anonymous) request
    received: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def caller_arn(self) -> str | None:
        # The emulator's credentials are not an IAM user's: the caller is the account itself, as with root keys.
        return f"arn:aws:iam::{self.account_id}:root" if self.account_id else None

    def condition_values(self) -> dict[str, str]:
        values = {
            "aws:securetransport": "true" if self.secure_transport else "false",
            "aws:sourceip": self.source_ip,
            "aws:currenttime": self.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(self.received.timestamp())),
        }
        if self.account_id and self.caller_arn:
            values.update({"aws:principalaccount": self.account_id, "aws:principalarn": self.caller_arn})
        return values


REQUEST_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "covid_pipeline_request_context", default=None
)
# The access key of a signed request: in the Authorization header, or in a presigned URL's query string.
_ACCESS_KEY = re.compile(r"Credential=([^/,\s%]+)(?:/|%2F)", re.IGNORECASE)


def _account_of(environ: Mapping[str, Any]) -> str | None:
    """The caller's account (moto's, for the access key), or None for an unsigned request."""
    from moto.iam.models import get_account_id_from

    signature = f"{environ.get('HTTP_AUTHORIZATION', '')} {environ.get('QUERY_STRING', '')}"
    match = _ACCESS_KEY.search(signature)
    return get_account_id_from(match.group(1)) if match else None


class RequestContextMiddleware:
    """Records each request's context for policy evaluation: the scheme it came in on (``wsgi.url_scheme``, which
    the emulator's listener sets per connection), its source address and the caller's account."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        context = RequestContext(
            secure_transport=environ.get("wsgi.url_scheme") == "https",
            source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
            account_id=_account_of(environ),
        )
        token = REQUEST_CONTEXT.set(context)
        try:
            # moto builds its whole answer inside this call (it returns a list, not a lazy iterator).
            return self.app(environ, start_response)
        finally:
            REQUEST_CONTEXT.reset(token)
