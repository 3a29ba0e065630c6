"""Alerts: rules that watch the data all the time, an evaluator on the one job runner, a spike
explainer, notifications and history.

- ``notify/``: receivers (Slack, PagerDuty Events v2, signed JSON webhook, e-mail) and the
  dispatcher that retries each with backoff on its own worker, so one failing receiver never
  delays another or the evaluator.
"""
