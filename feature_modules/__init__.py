"""Example feature modules: real feature definitions used by the demo, the drivers, the tests and benchmarks."""
