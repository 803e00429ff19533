"""The platform's data half: datasets to Ray Data pipelines of decoded clips, and dataset preparation."""
