"""Faults a farm meets every week, each probed with the real components on both databases."""
