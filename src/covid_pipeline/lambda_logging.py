"""The package's service modules logging through a handler's Powertools Logger.

The services log with the standard library (``logging.getLogger(__name__)``) so that the CLI and the tests can use
them too. In a function, their records should be the handler's JSON lines (service, level, the Lambda context's
keys, the ``extra`` fields). Powertools' ``copy_config_to_registered_loggers`` reaches top-level loggers only
(``covid_pipeline``): that would take over every module of the package in any process that imports a handler, such
as a test session. This gives the Logger's handler and level to the named service loggers only.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger


def log_through(logger: Logger, *names: str) -> None:
    """Records of the loggers ``names`` (and their children) go out through ``logger``'s handler, at its level."""
    for name in names:
        service_logger = logging.getLogger(name)
        service_logger.handlers = [logger.registered_handler]
        service_logger.setLevel(logger.log_level)
        service_logger.propagate = False
