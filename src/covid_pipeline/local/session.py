"""Where the CLI's AWS calls go: the one place that decides between AWS and the local cloud.

Commands never branch on "local". They ask `aws_session_for(config, local=...)` for a boto3
session and use it the same way everywhere. The decision, in order:

1. `AWS_ENDPOINT_URL` already set (a running emulator, a test fixture, LocalStack...): use it.
2. Local asked for (`--local` or `COVID_PIPELINE_LOCAL=1`): attach to a running local cloud
   (its endpoint file `.local/<env>/endpoint.json`) or bring one up for the command.
3. AWS credentials configured: real AWS.
4. A running local cloud's endpoint file exists: use it.
5. No credentials, but this environment's local cloud was provisioned here (by the demo or an earlier `local up`):
   bring it up for the command from its saved state, saying so on stderr.
6. Otherwise a one-line error that says how to choose.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import boto3

from covid_pipeline.config import PipelineConfig, local_state_file
from covid_pipeline.errors import UserError
from covid_pipeline.local.environ import overlaid_environ
from covid_pipeline.local.state_folder import ENDPOINT_FILE, local_state_dir, read_endpoint_file

log = logging.getLogger(__name__)

LOCAL_ENV_FLAG = "COVID_PIPELINE_LOCAL"


def _endpoint_env_from_file(config: PipelineConfig) -> dict[str, str] | None:
    """The env vars of a local cloud that is running now, or None (no file, or nobody answers)."""
    state_dir = local_state_dir(config)
    info = read_endpoint_file(state_dir)
    if info is None:
        return None
    env = info.get("env") if isinstance(info.get("env"), dict) else None
    endpoint = info.get("endpoint_url") or (env or {}).get("AWS_ENDPOINT_URL")
    if not endpoint:
        return None
    ca_bundle = (env or {}).get("AWS_CA_BUNDLE")
    if not _is_emulator(str(endpoint), ca_bundle):  # a stale file from a cloud that has stopped
        log.debug("endpoint file %s points at %s, which does not answer", state_dir / ENDPOINT_FILE, endpoint)
        return None
    result = {"AWS_ENDPOINT_URL": str(endpoint)}
    if env:
        result.update({str(k): str(v) for k, v in env.items() if str(k).startswith("AWS_")})
    result.setdefault("AWS_ACCESS_KEY_ID", "testing")
    result.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return result


def _has_aws_credentials() -> bool:
    return boto3.Session().get_credentials() is not None


@contextmanager
def aws_session_for(config: PipelineConfig, local: bool = False) -> Iterator[boto3.Session]:
    """A boto3 session for `config`'s region, with the endpoint chosen as the module docstring says.

    While the context is open the chosen endpoint is in os.environ (AWS_ENDPOINT_URL, and AWS_CA_BUNDLE for the
    local cloud's certificate), so anything else that honours the standard variables (pyarrow, DuckDB's httpfs via
    our loader, child processes) reaches the same place.
    """
    want_local = local or os.environ.get(LOCAL_ENV_FLAG, "") in {"1", "true", "yes"}
    with ExitStack() as stack:
        if os.environ.get("AWS_ENDPOINT_URL"):
            pass
        elif want_local or not _has_aws_credentials():
            running = _endpoint_env_from_file(config)
            if running is not None:
                stack.enter_context(overlaid_environ(running))
            elif want_local or local_state_file(config.environment).is_file():
                from covid_pipeline.local.cloud import LocalCloud

                if not want_local:
                    print(
                        f"no AWS credentials: using the local cloud of {config.environment} saved in "
                        f"{local_state_dir(config)} (brought up for this command; `local up` keeps it running)",
                        file=sys.stderr,
                        flush=True,
                    )
                cloud = stack.enter_context(LocalCloud(config))
                # LocalCloud exports its endpoint itself; re-export in case it only offers .env.
                stack.enter_context(overlaid_environ(dict(cloud.env)))
            else:
                raise UserError(
                    "no AWS credentials and no local cloud running: pass --local (or set COVID_PIPELINE_LOCAL=1), "
                    "start one with `covid-pipeline local up`, or configure AWS credentials"
                )
        yield boto3.Session(region_name=config.region)


def _is_emulator(endpoint: str, ca_bundle: str | None = None) -> bool:
    context = ssl.create_default_context(cafile=ca_bundle) if endpoint.startswith("https:") else None
    try:
        urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/", timeout=2, context=context).close()
    except (OSError, ssl.SSLError):
        return False
    return True


def refresh_emulated_alarms(session: boto3.Session) -> int:
    """Evaluate alarms when the endpoint is our emulator (moto never does); on AWS CloudWatch does it: no-op.

    Returns how many alarms changed state.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_MONITORING") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or not _is_emulator(endpoint, os.environ.get("AWS_CA_BUNDLE")):
        return 0
    from covid_pipeline.local.alarm_evaluator import evaluate_alarms

    results = evaluate_alarms(session.client("cloudwatch"), session.client("sns"))
    return sum(1 for result in results if result.changed)
