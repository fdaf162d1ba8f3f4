"""Plain references for the compiled kernels, one module per kernel file."""
from .stats import *  # noqa: F401,F403
