"""OpenAI (Chat Completions): `spec` declares it, `adapter` calls it through the `openai` SDK."""
