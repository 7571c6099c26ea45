"""Track training runs of PyTorch, Lightning and Hugging Face with one or two lines.

Each integration is a module of its own, with an extra that installs what it needs; none is
imported by ``import mltracker``:

===============================  ==========================  ===============================
module                           install                     what it gives
===============================  ==========================  ===============================
``mltracker.integrations.torch``  ``mltracker[torch]``       :func:`~.torch.model_hash`,
                                                             :func:`~.torch.track`, optimizer
                                                             and tensor helpers
``...integrations.lightning``    ``mltracker[lightning]``    ``MLTrackerLogger``
``...integrations.transformers``  ``mltracker[transformers]``  ``MLTrackerCallback``,
                                                             ``report_to="mltracker"``
===============================  ==========================  ===============================

``mltracker[integrations]`` installs all three. The shared vocabulary:

- A model is found by its hash (:func:`~.torch.model_hash` of the ``nn.Module`` and the
  ``extra=`` settings, unless a hash is given), so running the same script again continues
  the same model.
- Each training call (``track(...)``, a Lightning ``fit``, a Hugging Face ``train()``) is a
  run of the model, with its own curves, params and status; its steps go on after the
  model's ``step``, or after the last step of a run that crashed (see
  :mod:`~.runs`).
- The model's modules are the ``nn.Module``'s descendants, each with its type and settings.
- An iteration at a step holds the optimizer's (and learning-rate scheduler's) settings in
  force from that step on: one when training begins and one after each epoch.
- Metric names carry their phase as a prefix (``train_loss``, ``val/acc``, ``test_acc``,
  ``eval_loss``): see :mod:`mltracker.integrations.phases`.
"""
