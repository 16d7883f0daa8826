"""Facts the whole package shares and that must be written once: Glue's run states, how an s3:// URI splits, and how
a URL is shown without its secrets.

A leaf: it imports nothing of ours, so any module can use it without an import cycle.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

# --- Glue job run states (JobRun.JobRunState, as Glue documents them) ------------------------------------------------
ALL_RUN_STATES = frozenset(
    {"STARTING", "RUNNING", "STOPPING", "STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "WAITING", "EXPIRED"}
)
# A run in one of these states never changes again.
TERMINAL_STATES = frozenset({"STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED"})
# Finished without its output: a stopped or expired run did not do its work either.
FAILED_STATES = TERMINAL_STATES - {"SUCCEEDED"}
# Not finished yet, queued (WAITING) runs included.
ACTIVE_STATES = ALL_RUN_STATES - TERMINAL_STATES


# --- s3:// URIs -------------------------------------------------------------------------------------------------------
def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI; the key may be empty. Not urlsplit: a key may hold '?' and '#'."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def split_s3_object_url(url: str) -> tuple[str, str]:
    """(bucket, key) of one object, as Glue accepts it (s3:// or s3a://): both parts are required."""
    if not url.startswith(("s3://", "s3a://")):
        raise ValueError(f"not an s3:// location: {url!r}")
    bucket, _, key = url.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 location needs a bucket and a key: {url!r}")
    return bucket, key


# --- URLs in messages, logs and reports -------------------------------------------------------------------------------
# Query-string parameters whose values are secrets (case-insensitive; any name containing one of these words).
SECRET_PARAMETER_WORDS = ("password", "passwd", "pwd", "secret_key", "token", "api_key", "apikey", "credential")


def redact_url(url: str) -> str:
    """The URL without its secrets, for messages, logs and reports: the password of `user:password@` and the values
    of query parameters such as `?password=` or `sslpassword=` become `***`. The one redaction function of the
    project: everything that shows a warehouse URL goes through it."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    netloc, query = parts.netloc, parts.query
    if password is None and not any(_is_secret_parameter(name) for name, _ in parse_qsl(query)):
        return url  # nothing to hide (and urlunsplit would respell duckdb:///path as duckdb:/path)
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_is_secret_parameter(name) for name, _ in pairs):
            query = "&".join(
                f"{quote(name, safe='_-.')}=" + ("***" if _is_secret_parameter(name) else quote(value, safe=":/_-.="))
                for name, value in pairs
            )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _is_secret_parameter(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAMETER_WORDS)
