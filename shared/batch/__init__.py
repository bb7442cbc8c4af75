"""The batch lane (issue 16): queued `mode: batch` tasks gathered into provider batch jobs at
batch prices (batcher.py), their jobs polled and their lines finished through the same commits
as the online lane, or moved to it (poller.py). docs/contract.md, "The batch lane"."""
