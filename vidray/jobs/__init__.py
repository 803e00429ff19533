"""Jobs: end-to-end runs driven by one config (what ``vidray run`` executes)."""
