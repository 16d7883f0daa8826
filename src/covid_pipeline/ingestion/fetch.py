"""Polite HTTP GETs with the standard library: conditional requests, bounded retries, strict bodies.

- ``If-None-Match`` / ``If-Modified-Since`` from what the last fetch remembered: 304 is "unchanged";
- 404 is "not published (yet)", not an error;
- 5xx, 429 and network errors or timeouts are retried with exponential backoff, then raised as ``FetchFailed``;
- a body shorter or longer than its ``Content-Length`` is refused (``LENGTH_MISMATCH``), never returned;
- redirects are followed only to https:// URLs (a redirect elsewhere is refused: ``INSECURE_REDIRECT``).
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from covid_pipeline.ingestion.sources import INSECURE_REDIRECT, INSECURE_URL, LENGTH_MISMATCH, Refusal, url_problem

USER_AGENT = "covid-data-pipeline-ingestion/1.0 (+conditional GETs, one request at a time)"
MAX_REDIRECTS = 5
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

NEW = "new"
NOT_MODIFIED = "not_modified"
NOT_FOUND = "not_found"


class FetchFailed(Exception):
    """The source could not be reached or kept failing after the retries (reported, nothing stored)."""


class Refused(Exception):
    """The response is not acceptable (nothing stored); carries the refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.reason}: {refusal.detail}")
        self.refusal = refusal


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back: the last response's ETag and Last-Modified."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Response:
    status: str  # NEW | NOT_MODIFIED | NOT_FOUND
    url: str  # after redirects
    body: bytes = b""
    content_type: str = ""
    validators: Validators = Validators()


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float = 30.0
    attempts: int = 4
    backoff_seconds: float = 1.0  # then doubled per attempt


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are returned, not followed, so each hop's URL is checked before it is requested."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def _once(url: str, validators: Validators, timeout: float) -> tuple[int, dict[str, str], bytes, str]:
    """One request following redirects by hand: (status, headers, body, final url)."""
    for _ in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        if validators.etag:
            request.add_header("If-None-Match", validators.etag)
        if validators.last_modified:
            request.add_header("If-Modified-Since", validators.last_modified)
        try:
            response = _opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error  # 3xx/4xx/5xx: an answer, judged below
        with response:
            status = int(response.status or 0)
            headers = {key.lower(): value for key, value in response.headers.items()}
            if status in (301, 302, 303, 307, 308) and "location" in headers:
                target = urljoin(url, headers["location"])
                if urlsplit(target).scheme != "https":
                    raise Refused(Refusal(INSECURE_REDIRECT, f"{url} redirects to {target}, which is not https://"))
                url = target
                continue
            try:
                body = response.read() if status == 200 else b""
            except http.client.IncompleteRead as exc:
                raise Refused(
                    Refusal(LENGTH_MISMATCH, f"the body ended after {len(exc.partial)} bytes, short of its length")
                ) from None
            declared = headers.get("content-length")
            if status == 200 and declared is not None and declared.isdigit() and int(declared) != len(body):
                raise Refused(Refusal(LENGTH_MISMATCH, f"got {len(body)} bytes, Content-Length says {declared}"))
            return status, headers, body, url
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {url}")


def get(
    url: str,
    validators: Validators = Validators(),
    policy: FetchPolicy = FetchPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """GET one URL politely (see the module docstring)."""
    problem = url_problem(url)
    if problem:
        raise Refused(Refusal(INSECURE_URL, problem))
    last_error = ""
    for attempt in range(policy.attempts):
        if attempt:
            sleep(policy.backoff_seconds * 2 ** (attempt - 1))
        try:
            status, headers, body, final_url = _once(url, validators, policy.timeout_seconds)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            continue
        if status in RETRYABLE_STATUS:
            last_error = f"HTTP {status}"
            continue
        if status == 304:
            return Response(NOT_MODIFIED, final_url, validators=validators)
        if status in (404, 410):
            return Response(NOT_FOUND, final_url)
        if status != 200:
            raise FetchFailed(f"{url}: HTTP {status}")
        return Response(
            NEW,
            final_url,
            body,
            headers.get("content-type", ""),
            Validators(headers.get("etag"), headers.get("last-modified")),
        )
    raise FetchFailed(f"{url}: {last_error} after {policy.attempts} attempts")
