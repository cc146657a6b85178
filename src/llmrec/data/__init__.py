"""Data preprocessing: records, readers, validation, public datasets, interaction matrix."""
