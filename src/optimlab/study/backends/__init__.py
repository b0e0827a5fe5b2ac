"""Where trials run: this process (``local``), many at once as one vectorized model (``batched``),
worker processes (``workers``), or Ray tasks (``ray``). Each is imported only when chosen."""
