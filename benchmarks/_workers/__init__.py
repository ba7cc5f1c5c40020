"""Stand-alone scripts run in fresh subprocesses (possibly in another virtualenv).

Each script imports only the standard library, NumPy and what it measures, plus
the sibling :mod:`_protocol`, so the same timing protocol runs in this
virtualenv and in keras-sig 1.0.2's.
"""
