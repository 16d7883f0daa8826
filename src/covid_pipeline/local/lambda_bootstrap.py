"""The local Lambda runtime's bootstrap: run as ``python -S lambda_bootstrap.py`` inside a function's sandbox.

What /var/runtime/bootstrap is on AWS: it imports the function's handler from its code folder (``LAMBDA_TASK_ROOT``)
and its layers (``/opt/python`` on AWS; here the folders in ``LAMBDA_LAYER_PATHS``), then serves invocations one
at a time. Nothing of the project is imported: ``-S`` keeps site-packages (and with it the project's editable
install) off sys.path, which is set to the code, the layers and the runtime's libraries
(``LAMBDA_RUNTIME_PATHS``: boto3 on AWS; this machine's site-packages locally), in that order, so a module missing
from the bundle fails here as it does on Lambda.

Protocol with covid_pipeline.local.lambda_runtime: one JSON document per line on stdin (``{"event": ...,
"context": {..., "timeout_ms": ...}}``); stdout and stderr (one pipe) carry the function's log, and after each
invocation one line ``<LAMBDA_RESULT_TOKEN>{"response": ...}`` or ``<LAMBDA_RESULT_TOKEN>{"error": {"errorMessage",
"errorType", "stackTrace"}}``, written after the log is flushed, so the log lines before it are that invocation's.
Standard library only.

Unlike AWS, a local function reaches this machine only (loopback addresses: the emulator's endpoint, a test's
server), never the internet: the local cloud fires the schedules of every environment applied to it, and an
ingestion tick of one whose sources are the public URLs must not download them (``loopback_only``).
"""

import errno
import importlib
import ipaddress
import json
import logging
import os
import socket
import sys
import time
import traceback


class LambdaContext:
    """The attributes and method Lambda's Python runtime gives a handler as its second argument."""

    def __init__(self, fields, deadline):
        self.function_name = fields["function_name"]
        self.function_version = fields.get("function_version", "$LATEST")
        self.invoked_function_arn = fields["invoked_function_arn"]
        self.memory_limit_in_mb = int(fields["memory_limit_in_mb"])
        self.aws_request_id = fields["aws_request_id"]
        self.log_group_name = fields["log_group_name"]
        self.log_stream_name = fields["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _error(exc):
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _load_handler():
    """The handler named by _HANDLER (module.function), or the import error Lambda reports."""
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        return None, {**_error(exc), "errorType": f"Runtime.ImportModuleError ({type(exc).__name__})"}
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, {"errorMessage": message, "errorType": "Runtime.HandlerNotFound", "stackTrace": []}
    return handler, None


def is_loopback(host):
    """A host name or address that stays on this machine (None: a passive lookup, for binding)."""
    if host is None:
        return True
    text = (host.decode() if isinstance(host, bytes) else str(host)).lower().strip("[]")
    if text == "localhost" or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a name other than localhost: resolving it would already ask the network


def loopback_only():
    """Refuse, before any packet or DNS query, every lookup of and connection to a host that is not loopback."""
    real_getaddrinfo, real_connect, real_connect_ex = (
        socket.getaddrinfo,
        socket.socket.connect,
        socket.socket.connect_ex,
    )

    def refuse(host):
        raise OSError(errno.ENETUNREACH, f"the local cloud's functions reach loopback addresses only, not {host!r}")

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def checked(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            refuse(address[0])

    def connect(self, address):
        checked(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        checked(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


def main():
    loopback_only()
    paths = [os.environ["LAMBDA_TASK_ROOT"]]
    for variable in ("LAMBDA_LAYER_PATHS", "LAMBDA_RUNTIME_PATHS"):
        paths += [entry for entry in os.environ.get(variable, "").split(os.pathsep) if entry]
    sys.path[:0] = paths
    os.chdir(os.environ["LAMBDA_TASK_ROOT"])
    # Lambda's runtime gives the root logger a handler on stdout, the logger itself at WARNING by default.
    log_handler = logging.StreamHandler(sys.stdout)
    log_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"))
    logging.getLogger().addHandler(log_handler)
    logging.getLogger().setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING"))
    token = os.environ["LAMBDA_RESULT_TOKEN"]
    handler, init_error = _load_handler()  # at start, as Lambda's init phase does
    for line in sys.stdin:
        request = json.loads(line)
        deadline = time.monotonic() + request["context"]["timeout_ms"] / 1000
        if init_error is not None:
            outcome = {"error": init_error}
        else:
            try:
                response = handler(request["event"], LambdaContext(request["context"], deadline))
                outcome = {"response": json.loads(json.dumps(response))}
            except Exception as exc:
                outcome = {"error": _error(exc)}
        sys.stderr.flush()
        sys.stdout.write(token + json.dumps(outcome) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
