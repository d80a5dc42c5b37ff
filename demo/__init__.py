"""The local demo and the process harness the end-to-end tests share (not installed)."""
