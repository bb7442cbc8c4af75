"""Anthropic (Claude, Messages API): `spec` declares it, `settings` is its settings section,
`adapter` calls it through the `anthropic` SDK."""
