"""The demo: one real scikit-learn model trained under Airflow, Prefect and Dagster."""
