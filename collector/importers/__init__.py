"""Other collectors' data -> finished paratune trace files.

One module per source (``tacc_stats``, ``pcp``) turns the source's files into
``Imported`` hosts: rows in paratune's own columns for what overlaps, plus
``ext_<source>_*`` columns that keep everything else the source recorded,
raw.  ``build`` holds what both share (the table, the job as a process,
atomic writing); docs/importers.md has the formats and the mapping.
"""
