"""Ingestion: fetch what is new from each configured source and store it in the raw bucket, date-partitioned.

``sources`` (the configuration and the content checks, pure), ``fetch`` (polite HTTP: conditional GETs, retries,
length and redirect checks), ``state`` (what was fetched last, and the run records, in the state prefix),
``service`` (one tick: for each source, fetch, check, store, remember). lambda/ingestion.py is the thin handler.
"""
