"""paratune: HPC job-telemetry profiler (the command line; the library is collector/ and analyzer/)."""
from paratune_base import __version__  # noqa: F401  (paratune.__version__, for users)
