"""Triage of a message before retrieval: emergency, urgent, dosing, injection.

The unambiguous rules (:mod:`chatbot.safety.rules`) and the detector that reads meaning
(:mod:`chatbot.safety.detector`) each may raise an emergency; the rules name the category
when they match, the detector otherwise. Who and when are the detector's to read: a present
emergency of another person counts, past, hypothetical, figurative, fictional or general
messages do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chatbot.safety.data import load
from chatbot.safety.detector import Detector, load_detector
from chatbot.safety.rules import emergency_categories, is_dosing_request, looks_like_injection
from chatbot.safety.text import DEFAULT_MAX_CHARS, clean_question

__all__ = [
    "CATEGORIES",
    "CRISIS_MESSAGE",
    "DISCLAIMER",
    "DOSING_MESSAGE",
    "EMERGENCY_MESSAGE",
    "FLAGS",
    "URGENT_MESSAGE",
    "Category",
    "Triage",
    "triage",
]

_MESSAGES = load("messages.yaml")
DISCLAIMER: str = _MESSAGES["disclaimer"]
EMERGENCY_MESSAGE: str = _MESSAGES["emergency"]
CRISIS_MESSAGE: str = _MESSAGES["crisis"]
DOSING_MESSAGE: str = _MESSAGES["dosing"]
URGENT_MESSAGE: str = _MESSAGES["urgent"]


@dataclass(frozen=True)
class Category:
    """One kind of emergency: its name, the reason shown, its guidance, whether a crisis
    line belongs with it."""

    name: str
    reason: str
    guidance: str
    crisis: bool = False


CATEGORIES: dict[str, Category] = {
    name: Category(name, c["reason"], c["guidance"], bool(c.get("crisis", False)))
    for name, c in _MESSAGES["categories"].items()
}

Status = Literal["ok", "emergency", "empty"]
# Every flag a Triage can carry, in the order they are listed.
FLAGS: tuple[str, ...] = (
    "emergency",
    "self_harm",
    "urgent",
    "dosing",
    "prompt_injection",
    "truncated",
    "control_chars",
)


@dataclass(frozen=True)
class Triage:
    """The verdict on one message.

    Attributes:
        status: ``"emergency"`` when a rule or the detector found a present emergency,
            ``"empty"`` when nothing is left after cleaning, ``"ok"`` otherwise.
        flags: a subset of :data:`FLAGS`, in that order. ``urgent`` marks a "contact your
            doctor today" situation that is answered with :data:`URGENT_MESSAGE` above it;
            ``self_harm`` marks a category that needs the crisis line.
        reasons: human-readable reasons, e.g. ``"trouble breathing or swallowing"``.
        messages: texts to show before anything else, in order (emergency, crisis, each
            category's guidance, urgent, dosing).
        question: the cleaned message; triage and retrieval both use it.
        categories: the emergency categories found (names of :data:`CATEGORIES`).
        score: the detector's emergency probability (0 when it was not consulted).
    """

    status: Status
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    messages: tuple[str, ...]
    question: str
    categories: tuple[str, ...] = ()
    score: float = 0.0

    @property
    def is_emergency(self) -> bool:
        return self.status == "emergency"

    @property
    def is_urgent(self) -> bool:
        return "urgent" in self.flags

    @property
    def tier(self) -> Literal["emergency", "urgent", "none"]:
        """``emergency``, ``urgent`` or ``none``: how the ways in present the answer."""
        return "emergency" if self.is_emergency else "urgent" if self.is_urgent else "none"


def triage(
    question: str, *, max_chars: int = DEFAULT_MAX_CHARS, detector: Detector | None = None
) -> Triage:
    """Triage ``question`` before retrieval.

    Never raises on hostile text (empty, huge, control characters, markup, emoji); text past
    ``max_chars`` is dropped and flagged ``"truncated"``.

    Args:
        question: the user's message.
        max_chars: how much of it is read.
        detector: reads meaning; the bundled one by default
            (:func:`chatbot.safety.detector.load_detector`).

    Raises:
        TypeError: ``question`` is not a ``str``.
        ValueError: ``max_chars`` is not a positive integer.

    Example:
        >>> triage("my wife is having a seizure").categories
        ('seizure',)
        >>> triage("My dad died of a heart attack. Does Dupixent affect the heart?").status
        'ok'
    """
    cleaned, clean_flags = clean_question(question, max_chars=max_chars)
    notes: list[str] = []
    if "truncated" in clean_flags:
        notes.append(f"question cut to its first {max_chars} characters")
    if "control_chars" in clean_flags:
        notes.append("control characters removed")
    if not cleaned:
        return Triage("empty", clean_flags, tuple(notes), (), cleaned)
    reading = (detector or load_detector()).read(cleaned)
    found = emergency_categories(cleaned)
    if not found and reading.is_emergency:
        found = [reading.category]
    flags: set[str] = set(clean_flags)
    messages: list[str] = []
    reasons = [CATEGORIES[c].reason for c in found]
    if found:
        flags.add("emergency")
        messages.append(EMERGENCY_MESSAGE)
        if any(CATEGORIES[c].crisis for c in found):
            flags.add("self_harm")
            messages.append(CRISIS_MESSAGE)
        messages.extend(CATEGORIES[c].guidance for c in found)
    elif reading.is_urgent:
        flags.add("urgent")
        messages.append(URGENT_MESSAGE)
        reasons.append("new or worsening nerve symptoms to report today")
    if is_dosing_request(cleaned):
        flags.add("dosing")
        messages.append(DOSING_MESSAGE)
        reasons.append("personal dosing request")
    if looks_like_injection(cleaned):
        flags.add("prompt_injection")
        reasons.append("instructions embedded in the question")
    return Triage(
        status="emergency" if found else "ok",
        flags=tuple(f for f in FLAGS if f in flags),
        reasons=tuple(reasons + notes),
        messages=tuple(messages),
        question=cleaned,
        categories=tuple(found),
        score=reading.emergency,
    )
