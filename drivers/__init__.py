"""Ready-to-run entry points: the notebook backfill, orchestrator tasks and the model service (the demo ships
in the package: ``fdag demo``)."""
