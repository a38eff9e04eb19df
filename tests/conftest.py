"""Shared pytest fixtures for actlab's tests (shared helpers are added here as they are needed)."""
