"""Policies: selectors, image protection, image cleanup (rules and runs), schedules.

Surface offered to other capabilities: `ports`, `errors`, `service` (the rules in force),
`protection` (the checks a tag move or a delete must pass, applied in the caller's own
transaction), `schedules` (cron rules), `selectors` (the doublestar patterns replication's
filters use too), `runs` (`CleanupRunService`, the cleanup schedule's name).
"""
