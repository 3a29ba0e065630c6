"""Batch loading of raw log files (``tokentrail ingest``): local or S3, exactly once.

- ``sources``: which files a SOURCE names (fsspec), reading them from an offset in chunks
- ``flat``: flat JSON events mapped to span rows by the engine (the fast path)
- ``formats``: the other lines, decoded in Python with the HTTP ingest code (OTLP/JSON, coerced events, scores)
- ``loader``: one chunk into the store, then into the manifest
- ``manifest``: what was loaded, how far (table ``batch_files``)
- ``targets``: the store opened here, or a running server
- ``run``: one run over the files (plan, chunks, dead letters, summary); ``watch``: runs on a schedule
"""
