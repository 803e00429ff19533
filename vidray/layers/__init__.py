"""Building blocks shared by the model families (PyTorchVideo's ``layers`` names)."""
