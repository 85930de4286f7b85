"""The chaos run (issue 20): a production-style deployment under faults, checked against a ledger of edits.

    .venv/bin/python -m benchmarks.chaos [--minutes 15] [--users 20] [--protocol ews|graph] [--seed 1]

Run from the project directory. See docs/benchmarks.md, "Chaos run", and `__main__.py` for the steps.
"""
