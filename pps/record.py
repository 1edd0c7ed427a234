"""Small immutable records, for the data every probe run builds.

Why not :mod:`dataclasses`: the probe runs every few minutes at every site, and its steady state
must cost about what importing nagiosplugin does.  Importing dataclasses (it pulls inspect, ast
and dis) costs about 11 ms, and each frozen dataclass about 1.3 ms more to build its methods with
``exec``: some 30 ms a run for the records a run needs (``benchmarks/probe_steady_state.py``).
A :class:`Record` subclass declares its fields the same way (annotations, defaults,
:func:`field` for a mutable default) and gets ``__init__``, equality, hashing, ``repr``,
:meth:`Record.replace` and :meth:`Record.as_dict`, built once by one generic function; type
checkers treat it as a frozen dataclass (``dataclass_transform``).

``typing`` is not imported at run time either (about 4 ms): annotations are strings
(``from __future__ import annotations``), and names only type checkers need are imported under
``TYPE_CHECKING``, which mypy treats as true whatever module defines it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar

    from typing_extensions import Self, dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_kwargs):
        return lambda cls: cls


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is made anew for each record (``field(default_factory=dict)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Base of a frozen record; fields are the annotated class attributes, in order."""

    #: Field names in order, and their defaults; built by ``__init_subclass__``.
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    #: Fields left out of equality and hashing (a subclass sets it).
    _not_compared: ClassVar[frozenset[str]] = frozenset()
    _compared: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = list(cls._fields)
        defaults = dict(cls._defaults)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            if name not in fields:
                fields.append(name)
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
                delattr(cls, name)  # the instance's value, never the class's, is read
            elif name in defaults:
                del defaults[name]
        seen_default = False
        for name in fields:
            if name in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{cls.__name__}: field {name!r} without default after defaults")
        cls._fields = tuple(fields)
        cls._defaults = defaults
        cls._compared = tuple(f for f in fields if f not in cls._not_compared)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)}")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__} got {name!r} twice")
            values[name] = value
        setter = object.__setattr__
        for name in fields:
            if name in values:
                setter(self, name, values[name])
            elif name in self._defaults:
                default = self._defaults[name]
                setter(self, name, default.make() if isinstance(default, _Factory) else default)
            else:
                raise TypeError(f"{type(self).__name__} is missing the field {name!r}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._compared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def replace(self, **changes: Any) -> Self:
        """A copy with *changes* (``__post_init__`` runs again)."""
        values = {f: getattr(self, f) for f in self._fields}
        values.update(changes)
        return type(self)(**values)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (shallow: values are not copied)."""
        return {f: getattr(self, f) for f in self._fields}
