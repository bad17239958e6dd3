"""Thin Prefect tasks around the plain functions in :mod:`opscadence`.

Tasks that take engines or clients use ``NO_CACHE``: their inputs are live objects,
and a rerun must recompute from the warehouse anyway (writes are idempotent).
"""
