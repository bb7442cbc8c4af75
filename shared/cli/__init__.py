"""The `aiexec` command line."""
