"""The figure of docs/guide/augmentations.md: a path, add_time and lead_lag of it."""

import matplotlib.pyplot as plt
import numpy as np

import keras_sig

rng = np.random.default_rng(7)
path = np.cumsum(rng.normal(size=(7, 2)), axis=0)  # 7 points, x and y
timed = keras_sig.add_time(path)  # (7, 3): t in [0, 1], x, y
# (13, 4): lead x, lead y, lag x, lag y
leadlag = keras_sig.lead_lag(path)
lead, lag = leadlag[:, 0], leadlag[:, 2]  # x's lead and lag

# The Levy area of (lead, lag), (S^(lead,lag) - S^(lag,lead)) / 2,
# read off the signature, is half the quadratic variation of x:
# the shaded triangles.
s = keras_sig.signature(np.stack([lead, lag], axis=-1), 2)
area = 0.5 * (s[3] - s[4])
assert np.isclose(area, 0.5 * np.sum(np.diff(path[:, 0]) ** 2))

fig = plt.figure(figsize=(10, 8))
ax = fig.add_subplot(2, 2, 1)
ax.plot(path[:, 0], path[:, 1], "o-")
for i, (x, y) in enumerate(path):
    ax.annotate(str(i), (x, y), (4, 4), textcoords="offset points")
ax.set(title="path: 7 points in the plane", xlabel="x", ylabel="y")

ax = fig.add_subplot(2, 2, 2, projection="3d")
ax.plot(timed[:, 0], timed[:, 1], timed[:, 2], "o-", color="C1")
ax.set(title="add_time(path): (t, x, y)")
ax.set(xlabel="t", ylabel="x", zlabel="y")

ax = fig.add_subplot(2, 2, 3)
ax.plot(lead, "o-", label="lead x (channel 0)")
ax.plot(lag, "s--", label="lag x (channel 2)")
ax.set(title="lead_lag(path): 13 points")
ax.set(xlabel="point index", ylabel="x")
ax.legend()

ax = fig.add_subplot(2, 2, 4)
for a, b in zip(path[:-1, 0], path[1:, 0], strict=True):
    ax.fill([a, b, b], [a, a, b], color="C2", alpha=0.25, lw=0)
ax.plot(lead, lag, "o-", color="C2", label="(lead x, lag x)")
ends = [path[:, 0].min(), path[:, 0].max()]
ax.plot(ends, ends, ":", color="0.4", label="diagonal")
ax.set(title=f"Levy area from the signature: {area:.3f} = QV/2")
ax.set(xlabel="lead x", ylabel="lag x", aspect="equal")
ax.legend()
fig.tight_layout()
