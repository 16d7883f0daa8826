"""The local AWS cloud: moto over HTTP plus what moto only records (Glue job runs, Lambda invocations).

Entry point: ``covid_pipeline.local.cloud.LocalCloud``. Nothing outside this package branches on "local".
"""
