"""Property-based tests (hypothesis) of every endpoint that reads untrusted input.

``strategies`` makes the hostile input, ``oracles`` judges the answer. Run more examples with
``HYPOTHESIS_PROFILE=thorough`` (10,000 per test); see docs/security.md.
"""
