"""Glue's job-run actions on the emulator's endpoint, answered by the local Glue executor.

moto records Glue job runs but never executes them (StartJobRun reports SUCCEEDED at once). A WSGI middleware in
front of moto's app answers StartJobRun, GetJobRun, GetJobRuns and BatchStopJobRun (the X-Amz-Target of Glue's JSON
protocol) from the executor; every other request (CreateJob, GetJob, tables, partitions, ...) goes to moto. Callers
see the real Glue JSON protocol, including its error shapes.
"""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

LOOPBACK = "127.0.0.1"
GLUE_TARGET_PREFIX = "AWSGlue."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

log = logging.getLogger(__name__)

GlueAction = Callable[[dict[str, Any]], dict[str, Any]]


class GlueApiError(Exception):
    """An error the Glue API itself would return; ``code`` becomes boto3's ClientError code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def serve_glue_action(action: GlueAction, target: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run one Glue JSON-protocol action; answer (status, headers, body) as the Glue API would, errors included."""
    request_id = str(uuid.uuid4())
    error: tuple[int, str, str] | None = None
    try:
        params = json.loads(body or b"{}")
        if not isinstance(params, dict):
            raise GlueApiError("InvalidInputException", "The request body must be a JSON object")
        document = action(params)
    except GlueApiError as exc:
        error = (exc.status, exc.code, exc.message)
    except json.JSONDecodeError as exc:
        error = (400, "InvalidInputException", f"Malformed JSON request body: {exc}")
    except Exception as exc:  # the API answers InternalServiceException rather than dropping the connection
        log.exception("glue action %s failed", target)
        error = (500, "InternalServiceException", f"{type(exc).__name__}: {exc}")
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("x-amzn-RequestId", request_id)]
    if error is None:
        return 200, headers, json.dumps(document).encode()
    status, code, message = error
    headers.append(("x-amzn-ErrorType", code))
    return status, headers, json.dumps({"__type": code, "Message": message}).encode()


def glue_action_for(actions: Mapping[str, GlueAction], target: str | None) -> GlueAction | None:
    if not target or not target.startswith(GLUE_TARGET_PREFIX):
        return None
    return actions.get(target[len(GLUE_TARGET_PREFIX) :])


class GlueActionMiddleware:
    """WSGI middleware in front of moto's own app: the job-run actions, answered by the executor."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.actions: dict[str, GlueAction] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        action = glue_action_for(self.actions, target)
        if action is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, headers, payload = serve_glue_action(action, str(target), body)
        reason = http.client.responses.get(status, "")
        start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]
