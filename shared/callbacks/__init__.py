"""Completion callbacks: a signed POST of a task's public view when it ends (Standard Webhooks)."""
