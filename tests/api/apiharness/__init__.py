"""Helpers of the API and browser tests: real footage, a real server in a subprocess.

A package with its own name (not under ``tests/harness``) so that ``tests/api`` can
never be mistaken for the ``spectare.api`` package's folder ``api/``.
"""
