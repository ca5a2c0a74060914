"""Training: typed YAML recipes (:mod:`~srkit.train.config`), one loop for every model
(:mod:`~srkit.train.engine`) with the update as a registered, pluggable objective
(:mod:`~srkit.train.objectives`), the network and its initial weights (:mod:`~srkit.train.network`), the
training data (:mod:`~srkit.train.loaders`), validation (:mod:`~srkit.train.validation`), optimisers and
schedules (:mod:`~srkit.train.optim`), EMA (:mod:`~srkit.train.ema`), exact-resume training state
(:mod:`~srkit.train.state`), logs (:mod:`~srkit.train.logging`) and torchrun/DDP support
(:mod:`~srkit.train.distributed`). The command is ``srkit train`` (:mod:`~srkit.train.cli`).

Import-light: nothing is imported here, so ``srkit --help`` does not load PyTorch.
"""
