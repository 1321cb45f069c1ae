from tests.reliability.runs import stack  # noqa: F401  (the session's stack of real processes)
