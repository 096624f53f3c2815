"""Simulated vehicles for the bench."""
