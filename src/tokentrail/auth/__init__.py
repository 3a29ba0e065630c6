"""Who may do what: API keys (keys.py), and the accounts and sessions of the UI sign-in.

The HTTP side (reading credentials from a request, scopes, projects) is ``tokentrail.server.auth``.
"""
