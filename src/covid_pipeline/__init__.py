"""covid-data-pipeline: a serverless Glue/PySpark pipeline for COVID-19 data, runnable locally."""

__version__ = "0.1.0"
