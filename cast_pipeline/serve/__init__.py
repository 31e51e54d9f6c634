"""The read side of the archive as a service: JSON API, reader web pages and MCP tools.

Plain Python plus Starlette; no Dagster. Dagster's assets stay the one writer of every file; the
service only reads them (see :mod:`cast_pipeline.serve.library`).
"""
