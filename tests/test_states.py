"""States are StrEnums with their labels beside them: stored as plain codes, shown translated."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask_babel import force_locale

from alerts.models import GroupState, NotificationState
from barometre.states import JobState, Labelled, ReviewState, Role, SituationState

FAMILIES: list[type[Labelled]] = [
    Role,
    ReviewState,
    SituationState,
    JobState,
    NotificationState,
    GroupState,
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_a_state_is_its_code(family: type[Labelled]) -> None:
    for state in family:
        assert state == state.value and str(state) == state.value
        assert json.dumps(state) == f'"{state.value}"'
        assert family(state.value) is state


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_label_is_translated(app: Flask, family: type[Labelled], lang: str) -> None:
    with app.test_request_context():
        french = {code: str(label) for code, label in family.labels().items()}
        with force_locale(lang):
            translated = {code: str(label) for code, label in family.labels().items()}
    assert set(translated) == {state.value for state in family}
    untranslated = [code for code in translated if translated[code] == french[code]]
    assert not untranslated and all(translated.values())
