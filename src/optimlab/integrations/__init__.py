"""Optional integrations with other libraries: each module needs its own extra (``pip install optimlab[NAME]``)."""
