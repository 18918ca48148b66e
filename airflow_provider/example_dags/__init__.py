"""Example DAGs shipped with the provider (point ``dags_folder`` here to try them)."""
