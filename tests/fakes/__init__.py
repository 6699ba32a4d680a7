"""In-memory fakes of the domain's role ports, for unit tests of the domain.

They pass the same contract suites as the SQL stores (tests/contract), so they cannot drift.
"""
