"""Tracking plans: storage (``store``), the pipeline's cache of compiled plans (``book``),
JSON Schema export (``schema``), naming rules (``lint``), drafts from stored data (``infer``),
and the QA report (``report``). The check itself is the stage ``pipeline.stages.validate``."""
