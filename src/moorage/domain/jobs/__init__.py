"""Background work's domain side: the job queue, schedules and execution history as ports."""
