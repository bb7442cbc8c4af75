"""Common code of the AI Execution System, shared by every deployed function."""
