"""`covid-pipeline local up`, `local down` and `covid-pipeline demo`: their arguments, and what runs them.

`local up` starts the local cloud of an environment (moto + the Glue executor + the Lambda runtime),
prints how to reach it and keeps it running until Ctrl-C (the state is saved under .local/<env>/).

`demo` runs the whole pipeline on generated sample data (``covid_pipeline.demo``) and writes its summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from covid_pipeline import sample_data
from covid_pipeline.config import REPO_ROOT, PipelineConfig, load_config
from covid_pipeline.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = subparsers.add_parser("local", help="the local cloud (embedded AWS emulator + runtimes)")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser("up", help="run the local cloud in the foreground until Ctrl-C")
    up.add_argument("--sample-data", action="store_true", help="also upload the generated sample data once up")
    up.set_defaults(handler=local_up)
    down = local_commands.add_parser("down", help="stop the local cloud that `local up` runs (its state is saved)")
    down.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for it to save and stop")
    down.set_defaults(handler=local_down)

    demo = subparsers.add_parser("demo", help="run the whole pipeline locally on generated sample data")
    demo.add_argument("--keep-state", action="store_true", help="run on top of the existing .local/<env> state")
    demo.add_argument("--seed", type=int, default=sample_data.DEFAULT_SEED, help="sample data seed")
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each stage")
    demo.add_argument("--summary", type=Path, default=REPO_ROOT / ".local" / "demo-summary.json")
    demo.set_defaults(handler=run_demo_command)


# --- local up --------------------------------------------------------------------------------------------------------


def _show_logs_of_the_runtimes() -> None:
    import logging

    # Let the user watch uploads turn into runs: the runtimes log their steps at INFO.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("covid_pipeline.local",):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.propagate = False


def describe_cloud(config: PipelineConfig, endpoint: str, env: dict[str, str]) -> str:
    names = config.names
    lines = [
        f"local cloud '{config.environment}' is up",
        f"  endpoint       {endpoint}   (CA certificate: {env.get('AWS_CA_BUNDLE')})",
        f"  raw bucket     s3://{names.raw_bucket}/{config['raw_prefix']}<source>/   (sources: jhu_daily, owid)",
        f"  processed      s3://{names.processed_bucket}/",
        f"  queue          {names.raw_events_queue} (DLQ {names.raw_events_dlq})",
        f"  glue job       {names.glue_job}",
        "",
        "use it from another shell:",
        *(f"  export {key}={value}" for key, value in sorted(env.items())),
        f"  aws --endpoint-url {endpoint} s3 cp 01-22-2020.csv "
        f"s3://{names.raw_bucket}/{config['raw_prefix']}{sample_data.SOURCE}/01-22-2020.csv",
        f"  aws --endpoint-url {endpoint} glue get-job-runs --job-name {names.glue_job}",
        f"  scripts/deploy.sh {config.environment} plan --local-endpoint {endpoint}   # the same Terraform state",
        f"  covid-pipeline --env {config.environment} runs",
        "",
        f"Ctrl-C (or covid-pipeline --env {config.environment} local down) stops it; the state is saved and restored"
        " next time.",
    ]
    return "\n".join(lines)


def local_up(args: argparse.Namespace) -> int:
    from covid_pipeline.local.cloud import LocalCloud

    config = load_config(args.env)
    _show_logs_of_the_runtimes()
    stop = threading.Event()
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalCloud(config, keep_warm_worker=True) as cloud:
            config = cloud.config
            report = cloud.provision_report
            if report is not None:
                done = f"applied ({report.added} added, {report.changed} changed)" if report.applied else "no changes"
                print(f"terraform: {done} in {report.seconds:.1f} s", flush=True)
            print(describe_cloud(config, cloud.endpoint_url, cloud.env), flush=True)
            if args.sample_data:
                dataset = sample_data.generate(cloud.state_dir / "sample_data")
                s3 = cloud.client("s3")
                sample_data.upload_reference(config, dataset, s3)
                uploaded = sample_data.upload_reports(config, dataset.files, s3)
                print(f"uploaded {len(uploaded)} sample daily reports", flush=True)
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
            print("stopping: saving the state ...", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    return 0


def local_down(args: argparse.Namespace) -> int:
    """SIGTERM to the process serving this environment's local cloud, then wait until it has saved its state."""
    from covid_pipeline.local.state_folder import ENDPOINT_FILE, local_state_dir

    config = load_config(args.env)
    path = local_state_dir(config) / ENDPOINT_FILE
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        print(f"no local cloud of '{config.environment}' is running")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        print(f"the local cloud of '{config.environment}' (pid {pid}) had already stopped")
        return 0
    deadline = time.monotonic() + args.timeout
    while path.exists():
        if time.monotonic() >= deadline:
            raise UserError(f"the local cloud (pid {pid}) did not stop within {args.timeout:.0f} s")
        time.sleep(0.2)
    print(f"local cloud '{config.environment}' stopped; its state is saved in {path.parent}")
    return 0


def run_demo_command(args: argparse.Namespace) -> int:
    from covid_pipeline.demo import format_summary, run_demo

    config = load_config(args.env)
    summary = run_demo(config, keep_state=args.keep_state, seed=args.seed, timeout=args.timeout)
    print(format_summary(summary))
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(f"\nwrote {args.summary}")
    return 0 if summary.reconciled else 1
