"""Policies: selectors, image protection, image cleanup (rules and runs), schedules."""
