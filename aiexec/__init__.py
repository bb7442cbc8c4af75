"""What a user installs: the Python client (`aiexec.client`) and the `aiexec` command line
(`aiexec.cli`). The deployed functions never import it."""
