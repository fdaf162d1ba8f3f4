"""The numba kernels; each sits behind a plain Python wrapper elsewhere in analyzer/.

numba's array maths is loaded here with scipy absent: numba probes for a
BLAS by importing scipy (0.17 s of every ``analyze`` where scipy is
installed), and no kernel here uses one (no np.dot, no np.linalg).
"""
from paratune_base.absent import absent

with absent("scipy"):
    import numba.np.arraymath  # noqa: F401
