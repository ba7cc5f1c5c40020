"""Backend plumbing: namespace lookup, loop strategies and typing aliases.

This is the only package that knows which array library it is talking to; the
algorithms in :mod:`keras_sig._core` receive a namespace ``xp`` and a ``scan``
strategy and never ask.
"""
