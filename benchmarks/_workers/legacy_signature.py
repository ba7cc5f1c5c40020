"""Time keras-sig 1.0.2's signature on JAX, in its own virtualenv.

Usage: ``python legacy_signature.py SPEC.json OUT.json`` (see
:func:`benchmarks._subprocess.run_worker`). Checks the answer against the
references it is given, then measures with :mod:`_protocol`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _protocol import Settings, measure  # noqa: E402


def make(variant: str, depth: int, kind: str):
    import keras_sig

    if variant == "jax_gpu_signature":

        def sig(p):
            return keras_sig.jax_gpu_signature(p, depth)

    elif variant == "signature":

        def sig(p):
            return keras_sig.signature(p, depth)

    else:
        msg = f"unknown variant {variant!r}"
        raise ValueError(msg)
    if kind == "forward":
        return jax.jit(sig)
    return jax.jit(jax.grad(lambda p: sig(p).sum()))


def run_one(spec: dict, job: dict, arrays: dict[str, np.ndarray]) -> dict:
    """Check one (variant, kind) on the small input, then time it on ``arrays[job["x"]]``."""
    variant, kind = job["variant"], job["kind"]
    # Check first: a wrong answer is not worth timing.
    fn = make(variant, spec["check_depth"], kind)
    got = np.asarray(fn(jnp.asarray(arrays["check_x"])))
    ref = arrays[f"check_{kind}"]
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    answer = {"check_max_abs_diff": diff, "dtype": str(got.dtype)}
    if not diff < spec["atol"] or got.dtype != np.float64:
        answer["error"] = f"disagrees with the reference: max abs diff {diff:.3g}, dtype {got.dtype}"
    else:
        fn = make(variant, spec["depth"], kind)
        x = jnp.asarray(arrays[job.get("x", "x")])
        answer["device"] = str(next(iter(x.devices())))
        answer["times"] = measure(lambda: fn(x).block_until_ready(), Settings(**spec["settings"]))
    return answer


def main(spec_path: str, out_path: str) -> None:
    """Run the spec's one job (``variant``, ``kind``) or its list ``jobs``, each answered in turn.

    With ``jobs`` the answer holds ``results``, one per job, and is rewritten
    after each, so that a timeout still leaves the finished ones.
    """
    import keras_sig

    spec = json.loads(Path(spec_path).read_text())
    arrays = {name: np.load(path) for name, path in spec["arrays"].items()}
    env = {
        "keras_sig_version": getattr(keras_sig, "__version__", "1.0.2"),
        "keras_sig_file": keras_sig.__file__,
        "jax": jax.__version__,
    }
    if "jobs" not in spec:
        answer = {"env": env, **run_one(spec, spec, arrays)}
        Path(out_path).write_text(json.dumps(answer))
        return
    results: list[dict] = []
    for job in spec["jobs"]:
        try:
            results.append(run_one(spec, job, arrays))
        except Exception as exc:  # one failing job does not lose the others
            results.append({"error": f"{type(exc).__name__}: {exc}"})
        Path(out_path).write_text(json.dumps({"env": env, "results": results}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
