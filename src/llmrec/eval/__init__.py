"""Offline evaluation: splits, metrics, reports."""
