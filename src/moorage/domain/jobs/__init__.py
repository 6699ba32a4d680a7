"""Background work's domain side: the job queue, schedules and execution history as ports.

Surface offered to other capabilities: `ports`, `specs` (`JobSpec`).
"""
