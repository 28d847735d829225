"""The kernel every package stands on; it imports nothing of the project (see README, Architecture)."""
