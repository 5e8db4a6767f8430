"""Screens over the dashboard: the detail screens of its rows, triage and the monitoring screens,
the fleet, run comparison, the keys, and the modals of write actions.

Each is imported where first opened: the dashboard's first frame needs none of them.
"""
