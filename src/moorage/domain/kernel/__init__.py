"""What every capability shares: the records (model), the errors, the clock."""
