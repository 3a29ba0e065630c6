"""Optional Presidio backend (``pip install tokentrail[presidio]``, setting ``redact = presidio``):
names, locations and addresses, which no pattern finds, replaced by ``<PERSON>``, ``<LOCATION>`` ...

It runs after the built-in rules (``redact.Redactor.extra``) on text that still has words to judge,
so the rules' placeholders and counts stay as they are. Presidio's NLP model costs milliseconds per
text (the rules cost microseconds): docs/privacy.md has the figures and when to turn it on.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

ENTITIES = ("PERSON", "LOCATION", "NRP", "ADDRESS")  # what the rules cannot find; the rest is theirs
_lock = threading.Lock()


@cache
def _engines() -> tuple[Any, Any]:
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_anonymizer import AnonymizerEngine
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise RuntimeError("redact=presidio needs the extra: pip install 'tokentrail[presidio]' and a spaCy "
                           "model (python -m spacy download en_core_web_lg)") from e
    return AnalyzerEngine(), AnonymizerEngine()


def presidio_redact(text: str, language: str = "en") -> tuple[str, dict[str, int]]:
    """``text`` with Presidio's names, locations and addresses replaced by ``<TYPE>``, and the counts."""
    if not text or not any(c.isalpha() for c in text):
        return text, {}
    from presidio_anonymizer.entities import OperatorConfig

    analyzer, anonymizer = _engines()
    with _lock:  # the spaCy pipeline is not documented as thread-safe
        found = analyzer.analyze(text=text, language=language, entities=list(ENTITIES))
    if not found:
        return text, {}
    counts: dict[str, int] = {}
    for r in found:
        counts[r.entity_type] = counts.get(r.entity_type, 0) + 1
    operators = {e: OperatorConfig("replace", {"new_value": f"<{e}>"}) for e in ENTITIES}
    return anonymizer.anonymize(text=text, analyzer_results=found, operators=operators).text, counts
