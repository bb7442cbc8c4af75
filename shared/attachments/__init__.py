"""Files a task attaches (file parts of `messages`, the `attachments` shortcut).

`limits` checks what needs no network (count, scheme, type: in the schema, so clients see it
before sending); `check` what ingest verifies before a task exists (the object or URL is
readable, within the size limit); `fetch` reads the bytes for a worker (`gcs` with the
worker's identity, `https` through the outbound-URL guard); `resolve` gives a provider the
file parts it can take (a `gs://` URI as it is where the provider reads them natively).
"""
