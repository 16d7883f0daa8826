"""Errors a user can act on: the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input from the user (unknown run id, environment, date, ...)."""
