"""Commands that join the library and the platform: ``vidray decode`` (one labelled epoch) and
``vidray export`` (a model to a registered ExecuTorch program). ``vidray run`` is :func:`vidray.train.fit`."""
