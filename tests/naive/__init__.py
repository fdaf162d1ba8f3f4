"""Plain references for the compiled kernels, one module per kernel file."""
from .stats import *  # noqa: F401,F403
from .derive import *  # noqa: F401,F403
from .phases import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
