"""Shells that run the same transforms in different settings: ``torch_optim`` is the drop-in."""
