"""paratune: HPC job-telemetry profiler."""
__version__ = "0.1.0"
