"""Plain references for the compiled kernels: tests/naive/X.py for analyzer/kernels/_X.py."""
from .detect import *  # noqa: F401,F403
from .nearest import *  # noqa: F401,F403
from .pelt import *  # noqa: F401,F403
from .rates import *  # noqa: F401,F403
from .stats import *  # noqa: F401,F403
