"""`aiexec bench`: the pipeline measured side by side with the floor of the infrastructure."""
