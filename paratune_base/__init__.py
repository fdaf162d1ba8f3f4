"""What every layer of paratune needs and none should import from another:
the one error type (errors), outputs that never replace a non-file (files),
imports settled as absent (absent), and the version.

The layers point one way: paratune_base <- collector <- analyzer <- paratune (the CLI)."""
__version__ = "0.1.0"
