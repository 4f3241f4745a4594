"""A brand's pre-chat form: questions the widget asks before a new conversation's
first message, each bound to a custom attribute of the conversation or customer.

Pure: no I/O. Three rules, one per moment:

- :func:`check_pre_chat_form` when an admin saves the form (REST and console): each
  question names a defined, browser-writable attribute; choices fit its type.
- :func:`form_view` when a browser fetches the chat settings: each question with
  the input its attribute's type calls for (``TYPES``' editor) and its choices.
- :func:`check_answers` when the widget creates the conversation: the answers, by
  klass (``{"conversation": {...}, "customer": {...}}``), are checked with the
  attributes' own rules, required questions answered, choices kept to; every
  offending field is named (``/preChatForm/<klass>/<attribute>``) at once.

Stored in the brand's settings as ``{"questions": [{"klass", "attribute",
"label", "required", "choices"?}]}``; ``choices`` (``[{"value", "label"}]``) is
optional and defaults to the attribute's allowed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klatch.domain.attributes import (
    KLASSES,
    STR_MAX_CHARS,
    TXT_MAX_BYTES,
    TYPE_SPECS,
    URL_MAX_CHARS,
    AttributeDef,
    AttrType,
    check_values,
)
from klatch.domain.text import pointer_token, text_problem
from klatch.errors import AttributeErrors, ErrorDetail, InvalidArguments

MAX_QUESTIONS = 10
MAX_CHOICES = 100
LABEL_MAX_CHARS = 256
POINTER = "/preChatForm"
Definitions = Mapping[str, Mapping[str, AttributeDef]]  # klass -> name -> definition

_QUESTION_KEYS = ("klass", "attribute", "label", "required", "choices")
# The widget's input per type; a type with choices is asked as a choice instead.
_INPUTS = {
    AttrType.STR: "text",
    AttrType.TXT: "textarea",
    AttrType.NUM: "number",
    AttrType.BOOL: "bool",
    AttrType.AT: "datetime",
    AttrType.URL: "url",
    AttrType.TREE: "text",  # a choice of its paths, as it has a tree
}
_MAX_LENGTH = {
    AttrType.STR: STR_MAX_CHARS,
    AttrType.TXT: TXT_MAX_BYTES,
    AttrType.URL: URL_MAX_CHARS,
}


def _refuse(message: str, pointer: str, code: str = "invalid_arguments") -> InvalidArguments:
    return InvalidArguments(message, code=code, pointer=pointer)


# ---------------------------------------------------------------- saving the form


def check_pre_chat_form(value: Any, definitions: Definitions) -> dict[str, Any]:
    """The form as stored, or a 400 naming the question and what is wrong with it."""
    if not isinstance(value, dict) or set(value) - {"questions"}:
        raise _refuse('preChatForm must be {"questions": [...]}', POINTER)
    questions = value.get("questions", [])
    if not isinstance(questions, list) or len(questions) > MAX_QUESTIONS:
        raise _refuse(
            f"preChatForm.questions must be a list of at most {MAX_QUESTIONS} questions",
            f"{POINTER}/questions",
        )
    checked = [_check_question(q, definitions, i) for i, q in enumerate(questions)]
    seen: set[tuple[str, str]] = set()
    for i, question in enumerate(checked):
        key = (question["klass"], question["attribute"])
        if key in seen:
            raise _refuse(
                f"Two questions of the pre-chat form ask for {key[0]} attribute '{key[1]}'",
                f"{POINTER}/questions/{i}/attribute",
            )
        seen.add(key)
    return {"questions": checked}


def _check_question(question: Any, definitions: Definitions, index: int) -> dict[str, Any]:
    at = f"{POINTER}/questions/{index}"
    if not isinstance(question, dict):
        raise _refuse(f"Question {index + 1} must be an object", at)
    unknown = sorted(set(question) - set(_QUESTION_KEYS))
    if unknown:
        raise _refuse(f"Question {index + 1} has an unknown key '{unknown[0]}'", at)
    definition = _bound(question.get("klass"), question.get("attribute"), definitions, at)
    required = question.get("required", False)
    if not isinstance(required, bool):
        raise _refuse("required must be true or false", f"{at}/required")
    out: dict[str, Any] = {
        "klass": definition.klass,
        "attribute": definition.name,
        "label": _label(question.get("label"), f"{at}/label"),
        "required": required,
    }
    if question.get("choices") is not None:
        out["choices"] = _check_choices(question["choices"], definition, f"{at}/choices")
    return out


def _bound(klass: Any, name: Any, definitions: Definitions, at: str) -> AttributeDef:
    if klass not in KLASSES:
        raise _refuse(
            f"klass must be one of {', '.join(KLASSES)}", f"{at}/klass", code="unknown_klass"
        )
    if not isinstance(name, str) or not name:
        raise _refuse("attribute must name a custom attribute", f"{at}/attribute")
    definition = definitions.get(klass, {}).get(name)
    if definition is None:
        raise _refuse(
            f"'{name}' is not defined on the {klass} klass",
            f"{at}/attribute",
            code="unknown_attribute",
        )
    if not definition.sdk_writable:
        raise _refuse(
            f"'{name}' on the {klass} klass is read-only for the browser (sdkWritable "
            "false); the pre-chat form writes as the visitor",
            f"{at}/attribute",
            code="attribute_read_only",
        )
    if definition.type not in _INPUTS:
        raise _refuse(
            f"'{name}' is an {definition.type.value} attribute; a pre-chat form asks for "
            "text, long text, numbers, yes/no, date-times, URLs and choices",
            f"{at}/attribute",
            code="type_mismatch",
        )
    return definition


def _label(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > LABEL_MAX_CHARS:
        raise _refuse(f"label must be 1 to {LABEL_MAX_CHARS} characters", pointer)
    problem = text_problem(value)
    if problem is not None:
        raise _refuse(f"The label {problem}", pointer)
    return value.strip()


def _check_choices(value: Any, definition: AttributeDef, at: str) -> list[dict[str, str]]:
    """Choices for a Str or Tree attribute, each a value the attribute takes."""
    if not TYPE_SPECS[definition.type].takes_allowed_values:
        raise _refuse(f"choices are only for Str and Tree attributes, not '{definition.name}'", at)
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHOICES:
        raise _refuse(f"choices must be a list of 1 to {MAX_CHOICES} choices", at)
    out: list[dict[str, str]] = []
    for i, choice in enumerate(value):
        if not isinstance(choice, dict) or set(choice) - {"value", "label"}:
            raise _refuse('Each choice is {"value": ..., "label": ...}', f"{at}/{i}")
        checked = choice.get("value")
        if not isinstance(checked, str) or not checked or not _takes(definition, checked):
            raise _refuse(
                f"Choice {i + 1} ({str(choice.get('value'))[:64]!r}) is not a value "
                f"'{definition.name}' takes",
                f"{at}/{i}/value",
                code="value_not_allowed",
            )
        label = choice.get("label")
        shown = _label(checked if label is None else label, f"{at}/{i}/label")
        out.append({"value": checked, "label": shown})
    if len({c["value"] for c in out}) != len(out):
        raise _refuse("choices must not repeat a value", at)
    return out


# ---------------------------------------------------------------- showing the form


def form_view(form: Any, definitions: Definitions) -> dict[str, Any]:
    """The questions a browser shows, each with its input and choices. A question
    whose attribute was deleted (or made read-only) since the form was saved is
    left out, as it could not be answered."""
    questions = form.get("questions", []) if isinstance(form, dict) else []
    shown = []
    for question in questions:
        definition = _answerable(question, definitions)
        if definition is not None:
            shown.append(_question_view(question, definition))
    return {"questions": shown}


def _answerable(question: Any, definitions: Definitions) -> AttributeDef | None:
    if not isinstance(question, dict):
        return None
    definition = definitions.get(question.get("klass", ""), {}).get(question.get("attribute", ""))
    if definition is None or not definition.sdk_writable or definition.type not in _INPUTS:
        return None
    return definition


def _question_view(question: dict[str, Any], definition: AttributeDef) -> dict[str, Any]:
    choices = _choices_of(question, definition)
    view: dict[str, Any] = {
        "id": f"{definition.klass}.{definition.name}",
        "klass": definition.klass,
        "attribute": definition.name,
        "label": question["label"],
        "required": bool(question.get("required")),
        "type": definition.type.value,
        "input": "choice" if choices else _INPUTS[definition.type],
    }
    if choices:
        view["choices"] = choices
    if definition.type in _MAX_LENGTH:
        view["maxLength"] = _MAX_LENGTH[definition.type]
    return view


def _choices_of(question: dict[str, Any], definition: AttributeDef) -> list[dict[str, str]]:
    """The question's choices still allowed, else the attribute's allowed values
    (a tree's leaves only when it takes a last node)."""
    given = question.get("choices")
    if given:
        return [c for c in given if _takes(definition, c["value"])]
    values = list(definition.enumeration or ()) + list(definition.tree or ())
    labels = dict(zip(definition.tree or (), definition.tree_labels or (), strict=False))
    return [{"value": v, "label": _path_label(v, labels)} for v in values if _takes(definition, v)]


def _takes(definition: AttributeDef, value: Any) -> bool:
    """Whether the attribute's own rule takes ``value``."""
    try:
        check_values(
            definition.klass,
            {definition.name: definition},
            {definition.name: value},
            from_sdk=False,
        )
    except (AttributeErrors, InvalidArguments):
        return False
    return True


def _path_label(path: str, labels: Mapping[str, str]) -> str:
    """A path as its nodes' labels: billing.refund -> Billing / Refund. A label that
    is just the segment (the default) is capitalised; an admin's is kept as given."""
    segments = path.split(".")
    parts = []
    for i, segment in enumerate(segments, 1):
        own = labels.get(".".join(segments[:i])) or segment
        parts.append(own[:1].upper() + own[1:] if own == segment else own)
    return " / ".join(parts)


# ---------------------------------------------------------------- answering it


def check_answers(
    form: Any, definitions: Definitions, answers: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers as (conversation values, customer values), normalised and without
    unanswered questions; else one 400 naming every offending field."""
    if not isinstance(answers, dict) or set(answers) - set(KLASSES):
        raise _refuse(
            'preChatForm must be {"conversation": {...}, "customer": {...}} of answers', POINTER
        )
    questions = form_view(form, definitions)["questions"]
    if not questions:
        raise _refuse("This brand has no pre-chat form", POINTER, code="no_pre_chat_form")
    problems: list[ErrorDetail] = []
    values = {
        klass: _answers_of(klass, answers.get(klass), questions, definitions, problems)
        for klass in KLASSES
    }
    if problems:
        raise AttributeErrors(_klass_of(problems[0]), problems)
    return values["conversation"], values["customer"]


def _answers_of(
    klass: str,
    given: Any,
    questions: list[dict[str, Any]],
    definitions: Definitions,
    problems: list[ErrorDetail],
) -> dict[str, Any]:
    """One klass's answers, normalised, blanks dropped; each one missing, unasked,
    of the wrong type or not among the choices is added to ``problems``."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _refuse(f"preChatForm.{klass} must be an object of answers", _at(klass))
    asked = {q["attribute"]: q for q in questions if q["klass"] == klass}
    out: dict[str, Any] = {}
    for name, value in given.items():
        pointer = f"{_at(klass)}/{pointer_token(str(name))}"
        question = asked.get(name)
        if question is None:
            message = f"'{name}' is not a question of the pre-chat form"
            problems.append(ErrorDetail("not_in_form", message, attribute=name, pointer=pointer))
        elif not _blank(value):
            try:
                out[name] = _answer(question, definitions[klass], value, pointer)
            except AttributeErrors as exc:
                problems.extend(exc.details)
    for name, question in asked.items():
        if question["required"] and name not in out and not _named(problems, klass, name):
            message = f"'{question['label']}' needs an answer"
            pointer = f"{_at(klass)}/{pointer_token(name)}"
            problems.append(ErrorDetail("answer_required", message, name, pointer))
    return out


def _answer(
    question: dict[str, Any], defs: Mapping[str, AttributeDef], value: Any, pointer: str
) -> Any:
    """One answer by its attribute's rule, then kept to the question's choices."""
    klass, name = question["klass"], question["attribute"]
    checked = check_values(klass, defs, {name: value}, from_sdk=True, pointer=_at(klass))[name]
    choices = question.get("choices")
    if choices and checked not in {c["value"] for c in choices}:
        message = f"Choose one of the answers to '{question['label']}'"
        raise AttributeErrors(klass, [ErrorDetail("value_not_allowed", message, name, pointer)])
    return checked


def _named(problems: list[ErrorDetail], klass: str, name: str) -> bool:
    return any(p.pointer == f"{_at(klass)}/{pointer_token(name)}" for p in problems)


def _blank(value: Any) -> bool:
    """An unanswered question: nothing, or only spaces typed."""
    return value is None or (isinstance(value, str) and not value.strip())


def _at(klass: str) -> str:
    return f"{POINTER}/{klass}"


def _klass_of(detail: ErrorDetail) -> str:
    return "customer" if (detail.pointer or "").startswith(_at("customer")) else "conversation"
