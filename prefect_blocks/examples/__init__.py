"""Example Prefect pipelines: train and register the demo model, serve nightly retention."""
