"""covid_pipeline.lambda_logging: a service module's records come out as the handler's Powertools JSON lines."""

from __future__ import annotations

import io
import json
import logging

from aws_lambda_powertools import Logger

from covid_pipeline.lambda_logging import log_through


def test_service_records_become_the_handlers_json_lines_at_its_level() -> None:
    stream = io.StringIO()
    logger = Logger(service="lambda-logging-test", level="INFO", stream=stream)
    log_through(logger, "covid_pipeline.lambda_logging_test")
    service_log = logging.getLogger("covid_pipeline.lambda_logging_test.service")
    service_log.warning("alert %s", "sent", extra={"job_run_id": "jr_1"})
    service_log.debug("below the Logger's level")
    logging.getLogger("covid_pipeline.lambda_logging_other").warning("not routed")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["message"], line["level"], line["service"], line["job_run_id"]) == (
        "alert sent",
        "WARNING",
        "lambda-logging-test",
        "jr_1",
    )
