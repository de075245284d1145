"""The stack tests use the suite-wide `local_stack` fixture of tests/conftest.py."""
