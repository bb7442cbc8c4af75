"""Vertex AI (Gemini): `spec` declares it, `adapter` calls it through the `google-genai` SDK."""
