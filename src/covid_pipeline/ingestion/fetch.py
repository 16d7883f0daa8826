"""Polite HTTP GETs with the standard library: conditional requests, bounded retries, strict bodies.

- ``If-None-Match`` / ``If-Modified-Since`` from what the last fetch remembered: 304 is "unchanged";
- 404 is "not published (yet)", not an error;
- 5xx, 429 and network errors or timeouts are retried with exponential backoff, then raised as ``FetchFailed``;
- a body shorter or longer than its ``Content-Length`` is refused (``LENGTH_MISMATCH``), never returned;
- redirects are followed only to https:// URLs (a redirect elsewhere is refused: ``INSECURE_REDIRECT``);
- a body is streamed into a temporary file, never held in memory, and refused (``TOO_LARGE``) as soon as it passes
  the policy's ``max_bytes`` (or declares a larger ``Content-Length``).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from covid_pipeline.ingestion.body import CHUNK_BYTES, Body
from covid_pipeline.ingestion.sources import (
    INSECURE_REDIRECT,
    INSECURE_URL,
    LENGTH_MISMATCH,
    TOO_LARGE,
    Refusal,
    url_problem,
)
from covid_pipeline.input_rules import DEFAULT_MAX_COMPRESSED_BYTES

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
    body: Body | None = None  # NEW only; the caller closes it
    content_type: str = ""
    validators: Validators = Validators()


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float = 30.0
    attempts: int = 4
    backoff_seconds: float = 1.0  # then doubled per attempt
    # Larger bodies are refused while they stream in; the job would quarantine them anyway (its compressed limit).
    max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are returned, not followed, so each hop's URL is checked before it is requested."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def _download(response: Any, max_bytes: int) -> Body:
    """The response's body streamed into a temporary file, refused as soon as it passes max_bytes."""
    file = tempfile.TemporaryFile(prefix="ingest-")  # noqa: SIM115  (handed to the Body, or closed below)
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := response.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise Refused(Refusal(TOO_LARGE, f"the body passed the limit of {max_bytes} bytes"))
            digest.update(chunk)
            file.write(chunk)
    except http.client.IncompleteRead as exc:
        file.close()
        raise Refused(
            Refusal(LENGTH_MISMATCH, f"the body ended after {size + len(exc.partial)} bytes, short of its length")
        ) from None
    except OSError as exc:
        file.close()
        if exc.errno == errno.ENOSPC:
            raise FetchFailed(f"no room for the body in temporary storage after {size} bytes") from None
        raise  # a timeout or a reset connection: retried by get()
    except BaseException:
        file.close()
        raise
    return Body(file, size, digest.hexdigest())


def _once(url: str, validators: Validators, policy: FetchPolicy) -> tuple[int, dict[str, str], Body | None, str]:
    """One request following redirects by hand: (status, headers, body of a 200, final url)."""
    for _ in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        if validators.etag:
            request.add_header("If-None-Match", validators.etag)
        if validators.last_modified:
            request.add_header("If-Modified-Since", validators.last_modified)
        try:
            response = _opener.open(request, timeout=policy.timeout_seconds)
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
            if status != 200:
                return status, headers, None, url
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                raise Refused(Refusal(TOO_LARGE, f"Content-Length {declared} is over the limit of {policy.max_bytes}"))
            body = _download(response, policy.max_bytes)
            if declared.isdigit() and int(declared) != body.size:
                body.close()
                raise Refused(Refusal(LENGTH_MISMATCH, f"got {body.size} bytes, Content-Length says {declared}"))
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
            status, headers, body, final_url = _once(url, validators, policy)
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
        if status != 200 or body is None:
            raise FetchFailed(f"{url}: HTTP {status}")
        return Response(
            NEW,
            final_url,
            body,
            headers.get("content-type", ""),
            Validators(headers.get("etag"), headers.get("last-modified")),
        )
    raise FetchFailed(f"{url}: {last_error} after {policy.attempts} attempts")
