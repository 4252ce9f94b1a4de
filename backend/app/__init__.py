"""Incident Tracker API."""
