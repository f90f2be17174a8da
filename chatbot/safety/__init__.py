"""Safety triage of a message before retrieval: emergencies, urgent reports, dosing, injections.

:func:`triage` runs first on every message. It cleans the text, then:

- raises an **emergency** (status ``"emergency"``) when an unambiguous rule matches or the
  detector, which reads meaning, finds a present emergency; the messages to show first are
  the emergency guidance, the crisis line where it belongs, and each category's guidance;
- flags **urgent** ("contact your doctor today": new or spreading nerve symptoms the articles
  ask to report promptly), answered with :data:`URGENT_MESSAGE` above the answer;
- flags personal **dosing** requests, answered with :data:`DOSING_MESSAGE` and no dose;
- flags **prompt injection**, informational only, since answers quote the sources alone.

The package is data and a few short modules: ``data/`` holds the word lists, rules, messages
and the detector's weights; ``text`` cleans and splits, ``rules`` applies the rules,
``detector`` reads meaning, ``triage`` combines them, ``training`` fits the detector on the
scenario bank in ``eval/emergency/`` and measures it family by family.

Example:
    >>> triage("I can't breathe after my IVIG infusion").status
    'emergency'
    >>> triage("Can IVIG cause chest pain?").status
    'ok'
"""

from chatbot.safety.detector import Detector, DetectorError, Reading, load_detector
from chatbot.safety.rules import is_dosing_request, looks_like_injection
from chatbot.safety.text import DEFAULT_MAX_CHARS, clean_question, normalise, sentences
from chatbot.safety.triage import (
    CATEGORIES,
    CRISIS_MESSAGE,
    DISCLAIMER,
    DOSING_MESSAGE,
    EMERGENCY_MESSAGE,
    FLAGS,
    URGENT_MESSAGE,
    Category,
    Triage,
    triage,
)

__all__ = [
    "CATEGORIES",
    "CRISIS_MESSAGE",
    "DEFAULT_MAX_CHARS",
    "DISCLAIMER",
    "DOSING_MESSAGE",
    "EMERGENCY_MESSAGE",
    "FLAGS",
    "URGENT_MESSAGE",
    "Category",
    "Detector",
    "DetectorError",
    "Reading",
    "Triage",
    "clean_question",
    "is_dosing_request",
    "load_detector",
    "looks_like_injection",
    "normalise",
    "sentences",
    "triage",
]
