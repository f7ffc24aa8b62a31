"""Language-neutral contracts of Trackhouse: API payloads, topic records, ClickHouse DDL.

The pydantic models and dataclasses here are the source of truth; ``python -m schemas.export``
writes the JSON Schema files in ``schemas/jsonschema/`` that producers in other languages use.
"""
