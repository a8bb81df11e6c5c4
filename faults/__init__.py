"""The fault and abuse suite: break the system on purpose and compare with a run that was not."""
