"""Optional integrations (Dagster, Airflow, Ray), each imported on its own so that fdag never needs them.

``from fdag.integrations.dagster import feature_assets``; ``from fdag.integrations.airflow import compute_features``.
"""
