"""DAGs used only by the tests (copied into the session dags_folder)."""
