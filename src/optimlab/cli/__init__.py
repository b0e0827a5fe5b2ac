"""The ``optimlab`` command line: one module per verb, each a thin layer over one library call."""
