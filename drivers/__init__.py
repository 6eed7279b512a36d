"""Ready-to-run entry points: the demo, the notebook backfill, orchestrator tasks and the model service."""
