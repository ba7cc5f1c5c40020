"""The algorithms, written once against the array API standard.

Every function takes the namespace as a keyword argument ``xp`` and uses only what
the standard (or the TensorFlow adapter, which mirrors it) provides: no in-place
assignment, no boolean masks, no data-dependent shapes, no Python branching on
array values.
"""
