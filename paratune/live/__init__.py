"""``paratune live``: the full-screen view (loop.py runs it; model, view, keys and sources are its parts)."""
