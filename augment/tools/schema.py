"""Argument models and JSON schemas for tools.

- :func:`model_from_function` builds a pydantic model (``extra="forbid"``) from a
  typed function and its docstring;
- :func:`clean_schema` turns pydantic's JSON schema into the compact form models
  read best (no titles, ``$ref`` inlined unless recursive);
- :func:`format_validation_error` explains a pydantic error in words a model can act on.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from augment.errors import ToolError

__all__ = ["model_from_function", "model_json_schema", "strict_model", "clean_schema", "format_validation_error", "describe_schema"]

_SCHEMA_VALUE_KEYS = {"default", "enum", "const", "examples", "example"}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-\s]+", name) if part) or "Tool"


def model_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """pydantic's JSON schema of ``model`` (not a cached copy some libraries patch onto the class)."""
    from pydantic.json_schema import model_json_schema as generate

    return generate(model)


def model_from_function(
    fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str], require_docs: bool = True
) -> type[BaseModel]:
    """A pydantic model of ``fn``'s parameters; raise :class:`ToolError` for what cannot become a tool argument."""
    where = f"tool '{tool_name}' (function {getattr(fn, '__qualname__', fn)!s})"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as e:  # NameError for an unresolvable forward reference, ...
        raise ToolError(f"{where}: cannot resolve its type hints ({e}); import the types it names at module level") from e
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self" and p.annotation is inspect.Parameter.empty:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind == p.VAR_POSITIONAL else "**"
            raise ToolError(f"{where}: '{star}{p.name}' cannot be a tool argument; list each argument with its own name and type")
        if p.name.startswith("_"):
            raise ToolError(f"{where}: argument '{p.name}' starts with '_'; give tool arguments public names")
        if p.name not in hints:
            raise ToolError(
                f"{where}: argument '{p.name}' has no type hint, so no JSON schema can be made for it; "
                f"annotate it, e.g. '{p.name}: str'"
            )
        help_text = (arg_docs.get(p.name) or "").strip()
        if not help_text and require_docs:
            raise ToolError(
                f"{where}: the docstring does not describe argument '{p.name}', so the model would not know what to pass; "
                f"add it under 'Args:', e.g. '    {p.name}: what it means' (or pass require_docs=False)"
            )
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], Field(default, description=help_text or None))
    return _build(where, _camel(tool_name) + "Args", fields)


def _build(where: str, model_name: str, fields: dict[str, Any], base: type[BaseModel] | None = None) -> type[BaseModel]:
    try:
        if base is None:
            model = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
        else:
            config = {**base.model_config, "extra": "forbid"}
            model = type(base.__name__, (base,), {"model_config": config, "__module__": base.__module__})
        model_json_schema(model)
    except ToolError:
        raise
    except Exception as e:
        raise ToolError(
            f"{where}: its argument types cannot be described as JSON schema ({type(e).__name__}: {e}); use str, int, "
            f"float, bool, Optional, Literal, Enum, list[...], dict[str, ...] or pydantic models"
        ) from e
    return model


def strict_model(model: type[BaseModel], tool_name: str) -> type[BaseModel]:
    """``model`` with unknown arguments refused (``extra="forbid"``)."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ToolError(f"tool '{tool_name}': args_schema must be a pydantic BaseModel class, got {model!r}")
    if model.model_config.get("extra") == "forbid":
        return model
    return _build(f"tool '{tool_name}'", model.__name__, {}, base=model)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop ``title`` keys and inline ``$defs`` references (kept when a model refers to itself)."""
    defs = schema.get("$defs", {})
    recursive = False

    def walk(node: Any, stack: tuple[str, ...], inline: bool) -> Any:
        nonlocal recursive
        if isinstance(node, list):
            return [walk(x, stack, inline) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if inline and isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.rsplit("/", 1)[-1]
            if key in stack or key not in defs:
                recursive = True
            else:
                target = walk(defs[key], stack + (key,), inline)
                extra = {k: walk(v, stack, inline) for k, v in node.items() if k not in ("$ref", "title")}
                return {**target, **extra}
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "title" and isinstance(v, str):
                continue
            if k in _SCHEMA_VALUE_KEYS:
                out[k] = v
            elif k in ("properties", "$defs") and isinstance(v, dict):
                out[k] = {name: walk(sub, stack, inline) for name, sub in v.items()}
            else:
                out[k] = walk(v, stack, inline)
        return out

    body = {k: v for k, v in schema.items() if k != "$defs"}
    result = walk(body, (), True)
    if recursive:  # keep references so self-referring models stay finite
        result = walk(schema, (), False)
    result.setdefault("type", "object")
    result.setdefault("properties", {})
    return result


def describe_schema(prop: dict[str, Any]) -> str:
    """A few words for what a JSON schema accepts: ``'an integer'``, ``"one of 'c', 'f'"``."""
    if "enum" in prop:
        return "one of " + ", ".join(repr(v) for v in prop["enum"])
    if "const" in prop:
        return f"exactly {prop['const']!r}"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(describe_schema(p) for p in prop[key])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items")
        return "a list" + (f" (each {describe_schema(items)})" if isinstance(items, dict) and items else "")
    if kind == "object":
        keys = list(prop.get("properties", {}))
        return "an object" + (f" with keys {', '.join(keys)}" if keys else "")
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false", "null": "null"}
    return names.get(kind, "a value") if isinstance(kind, str) else "a value"


def _sub_schema(schema: dict[str, Any], loc: list[str]) -> dict[str, Any]:
    """The part of ``schema`` that describes the value at ``loc`` (``{}`` when unknown)."""
    node: Any = schema
    for part in loc:
        for _ in range(3):  # step into anyOf / $ref-free wrappers
            if isinstance(node, dict) and "properties" not in node and "items" not in node and "anyOf" in node:
                node = next((o for o in node["anyOf"] if isinstance(o, dict) and o.get("type") != "null"), {})
        if not isinstance(node, dict):
            return {}
        if part in node.get("properties", {}):
            node = node["properties"][part]
        elif part.isdigit() and isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return {}
    return node if isinstance(node, dict) else {}


def format_validation_error(tool_name: str, error: ValidationError, schema: dict[str, Any]) -> tuple[str, list[str]]:
    """Return ``(message, problems)`` describing ``error`` argument by argument, with what is expected."""
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    problems: list[str] = []
    for err in error.errors():
        loc = [str(p) for p in err.get("loc", ())]
        arg = ".".join(loc) or "arguments"
        if err["type"] == "missing":
            problems.append(f"argument '{arg}' is missing (expected {describe_schema(_sub_schema(schema, loc))})")
        elif err["type"] == "extra_forbidden":
            known = ", ".join(props) or "none"
            problems.append(f"'{arg}' is not an argument of this tool (its arguments: {known})")
        else:
            got = repr(err.get("input"))
            got = got if len(got) <= 80 else got[:77] + "..."
            problems.append(f"argument '{arg}': {err['msg']} (got {got})")
    lines = []
    for name, prop in props.items():
        need = "required" if name in required else f"optional, default {json.dumps(prop.get('default'), default=str)}"
        helptext = f": {prop['description']}" if prop.get("description") else ""
        lines.append(f"  {name} ({describe_schema(prop)}, {need}){helptext}")
    message = (
        f"Invalid arguments for tool '{tool_name}': " + "; ".join(problems) + ".\n"
        "Expected arguments:\n" + ("\n".join(lines) or "  (none)") + f"\nFix the arguments and call '{tool_name}' again."
    )
    return message, problems
