"""Background work: the job runner and the scheduler, in-process or as `moorage worker`."""
