"""The package version, in one place (read by the façade and by dataset metadata)."""

__version__ = "0.1.0"
