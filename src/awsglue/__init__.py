"""A clean-room implementation of AWS Glue's ``awsglue`` Python library on plain PySpark 3.5.

Written from AWS's public documentation of the API, for running and unit-testing Glue scripts where Glue's own
JVM classes are not available (a laptop, CI, the local Glue executor). The module layout and names are Glue's,
so scripts and the tests that patch them run unchanged. Never shipped to AWS: Glue provides its own library.
"""

from awsglue.dynamicframe import DynamicFrame

__all__ = ["DynamicFrame"]
