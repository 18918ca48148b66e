"""Classic operators: register, promote, roll back, verify and retain model versions.

Import them from their modules, e.g.
``from airflow_provider.operators.promote import PromoteModelOperator``.
"""
