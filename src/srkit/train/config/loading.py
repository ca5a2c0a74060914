"""Reading a recipe: YAML files with ``extends``, ``--set`` overrides, validation into :class:`TrainConfig`
with one-line errors naming the dotted key, and the resolved configuration written back."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from srkit.errors import ConfigError
from srkit.train.config.recipe import TrainConfig
from srkit.train.objectives import OBJECTIVES
from srkit.train.optim import SCHEDULE_KEYS
from srkit.train.sections import SubKeyError


def _format_loc(loc: Sequence[str | int], err: Mapping[str, Any]) -> str:
    """Dotted key of a pydantic error location, without union tags, plus a :class:`SubKeyError`'s key."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if i == 1 and loc[0] == "objective" and item in OBJECTIVES:
            continue  # the tag pydantic inserts for the tagged union
        parts.append(str(item))
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, SubKeyError):
        parts.append(cause.key)
    return ".".join(parts) or "<root>"


def _format_message(err: Mapping[str, Any]) -> str:
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    kind = err.get("type", "")
    if (
        kind not in ("missing", "extra_forbidden")
        and "input" in err
        and not isinstance(err["input"], Mapping)
    ):
        shown = repr(err["input"])
        message = f"{message} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    if kind == "extra_forbidden":
        message = "unknown key"
    return message


def validation_error_message(error: ValidationError, source: str | None = None) -> str:
    """One line for a pydantic :class:`ValidationError`: ``[source: ]dotted.key: message``; when there
    are several errors the first is given and the count of the others."""
    errors = error.errors(include_url=False)
    first = errors[0]
    text = f"{_format_loc(first['loc'], first)}: {_format_message(first)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    text = " ".join(text.split())
    return f"{source}: {text}" if source else text


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, any other value replaces. No aliasing."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


#: Largest recipe file read (bytes); real recipes are a few KB.
MAX_YAML_BYTES = 1 << 20
#: Largest recipe after alias expansion, in nodes plus scalar characters: aliases share one Python
#: object, but validation, error messages and ``config.yaml`` walk (and copy) every reference, so a few
#: hundred bytes of nested anchors ("billion laughs") would otherwise take gigabytes.
MAX_YAML_EXPANDED = 1_000_000
#: Deepest nesting of mappings and lists accepted (real recipes nest about 5 levels).
MAX_YAML_DEPTH = 100


class _Oversized(Exception):
    """A YAML document over one of the bounds above; the message is the reason."""


def _expanded_size(root: yaml.Node) -> int:
    """Nodes plus scalar characters of ``root`` with every alias expanded, counted without expanding
    (each node's size is computed once and reused for its aliases); :class:`_Oversized` past
    :data:`MAX_YAML_EXPANDED` or :data:`MAX_YAML_DEPTH`, and for a node that contains itself."""
    sizes: dict[int, int] = {}
    # iterative post-order walk: (node, depth, children pushed yet)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    open_nodes: set[int] = set()
    while stack:
        node, depth, expanded = stack.pop()
        key = id(node)
        if key in sizes and not expanded:
            continue
        children = _children(node)
        if not expanded:
            if depth > MAX_YAML_DEPTH:
                raise _Oversized(f"nested more than {MAX_YAML_DEPTH} levels deep")
            if key in open_nodes:
                raise _Oversized("an alias refers to a node that contains it (a recursive structure)")
            open_nodes.add(key)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(key)
        own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        size = 1 + own + sum(sizes[id(child)] for child in children)
        if size > MAX_YAML_EXPANDED:
            raise _Oversized(
                f"its aliases expand to more than {MAX_YAML_EXPANDED:,} nodes and characters "
                "(nested anchors, a 'billion laughs')"
            )
        sizes[key] = size
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load(text)`` with the document's alias expansion and nesting bounded (see
    :data:`MAX_YAML_EXPANDED`): :class:`_Oversized` when over, :class:`yaml.YAMLError` when invalid."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise _Oversized("nested too deeply") from None
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; :class:`ConfigError` naming the file otherwise (also for a file
    over :data:`MAX_YAML_BYTES` or one whose aliases expand past :data:`MAX_YAML_EXPANDED`)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror or err})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: the config is larger than {MAX_YAML_BYTES // 1024} KB; is it a recipe?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the config is not UTF-8 text (byte {err.start})") from None
    try:
        data = safe_load_bounded(text)
    except _Oversized as err:
        raise ConfigError(f"{path}: refused: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML error{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping, got {type(data).__name__}")
    return data


def read_config_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of ``path`` with its ``extends`` chain merged in (the key itself removed)."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"{path}: extends: cycle {chain}")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: extends: must be a path to another YAML file, got {parent!r}")
    parent_path = (path.parent / parent).expanduser()
    if not parent_path.is_file():
        raise ConfigError(f"{path}: extends: {parent_path} does not exist")
    return deep_merge(read_config_tree(parent_path, (*_seen, resolved)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'a.b.c=value'`` -> ``(['a', 'b', 'c'], value)`` with ``value`` parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. optim.lr=2e-4")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"--set {text}: empty component in key {key!r}")
    try:
        value = safe_load_bounded(raw) if raw.strip() else None
    except _Oversized as err:
        raise ConfigError(f"--set {key}: refused: {err}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: cannot parse {raw!r} as a YAML value") from None
    return parts, value


def apply_override(data: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    """Set ``data[parts[0]][parts[1]]... = value`` in place, creating mappings on the way; a numeric
    part indexes into an existing list."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, parts[: depth + 1])]
            continue
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, (dict, list)):
            raise ConfigError(f"{'.'.join(parts[: depth + 1])}: is a value, cannot set {'.'.join(parts)}")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, parts)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, path: Sequence[str]) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"{'.'.join(path)}: index out of range for a list of {len(node)} item(s)")
    return int(part)


def build_config(data: Mapping[str, Any], source: str | None = None) -> TrainConfig:
    """Validate a raw mapping; :class:`ConfigError` with one line naming the key on failure."""
    try:
        return TrainConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(validation_error_message(err, source)) from None
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}" if source else str(err)) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read ``path`` (with ``extends``), apply ``--set`` ``overrides`` in order and validate."""
    data = read_config_tree(path)
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
    return build_config(data, source=str(path))


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain JSON/YAML values of a configuration: every default included except ``null`` ones (every
    key that may be ``null`` defaults to it), so the result validates back to the same configuration."""
    data = config.model_dump(mode="json", exclude_none=True)
    required, optional = SCHEDULE_KEYS[config.schedule.type]
    used = {"type", "warmup_steps", *required, *optional}
    data["schedule"] = {k: v for k, v in data["schedule"].items() if k in used}
    return data


def dump_config(config: TrainConfig) -> str:
    """The resolved configuration as YAML text (keys in schema order)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None, width=110)


def diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two plain configuration trees."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            keys += diff_keys(a.get(key), b.get(key), dotted) if key in a and key in b else [dotted]
        return keys
    return [] if a == b else [prefix or "<root>"]
