"""The operator commands (docs/operations.md): status, verify-audit, export, retry, redrive, purge,
cognito. Each finds the service through target.py and exits 0, 1 or 2 (cli.py)."""
