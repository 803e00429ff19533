"""The model zoo (filled in as the families land)."""
