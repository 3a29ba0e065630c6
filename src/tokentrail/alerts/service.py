"""The alerts part of a running server: the alerts file (reloaded when it changes; a broken edit keeps
the last good rules and says why on the alerts page), the evaluator, and its job on the one runner."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tokentrail.alerts import config as alerts_config
from tokentrail.alerts.evaluator import Evaluator, RoundStats
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.alerts")


class AlertService:
    def __init__(self, store: Store, path: str, *, holder: str, base_url: str, interval: float,
                 config: alerts_config.AlertsConfig | None = None) -> None:
        self.path, self.interval = path, interval
        self.config = config or alerts_config.load(path)  # ValueError: the server refuses to start, saying why
        self.config_error = ""
        self.evaluator = Evaluator(store, self.config, holder=holder, base_url=base_url,
                                   term_seconds=max(interval, 10.0))

    def _mtime(self) -> float:
        try:
            return Path(self.path).expanduser().stat().st_mtime if self.path else 0.0
        except OSError:
            return -1.0

    def reload_if_changed(self) -> None:
        if not self.path or self._mtime() == self.config.mtime:
            return
        try:
            cfg = alerts_config.load(self.path)
        except ValueError as e:
            if str(e) != self.config_error:
                log.error("alerts file not reloaded, the last good one stays: %s", e)
            self.config_error = str(e)
            return
        self.config, self.config_error = cfg, ""
        self.evaluator.reconfigure(cfg)
        log.info("alerts file reloaded: %d rules, %d receivers", len(cfg.rules), len(cfg.receivers))

    def tick(self) -> RoundStats | None:
        self.reload_if_changed()
        return self.evaluator.run()

    def status(self) -> dict[str, Any]:
        last = self.evaluator.last
        return {"interval_seconds": self.interval, "file": self.path, "config_error": self.config_error,
                "lease_holder": self.evaluator.lease.owner() if self.interval else None,
                "last_round": {"at": last.at or None, "seconds": last.seconds, "rules": last.rules,
                               "errors": last.errors, "rule_errors": last.rule_errors, "firing": last.firing},
                "receivers": self.evaluator.dispatcher.status()}

    def stop(self) -> None:
        self.evaluator.stop()
