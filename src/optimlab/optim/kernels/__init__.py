"""Single-pass kernels the fused shell substitutes for composed chains (:mod:`optimlab.optim.shells.fused`).

``torch_fused``: torch's own fused kernels for the chains whose update they compute exactly (Adam,
AdamW, AMSGrad, SGD with or without momentum and Nesterov, AdaGrad). ``compiled``: any elementwise
chain run through ``torch.compile``, so that the kernel *is* the composed chain, fused.
"""
