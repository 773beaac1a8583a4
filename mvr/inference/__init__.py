"""Inference: the models that route tickets (imported by workers only)."""
