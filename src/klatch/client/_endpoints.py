"""How one resource method serves both clients.

A method of a resource (``klatch.customers.get``) is written once, in
``_resources.py``, as what it asks for: the ``Call`` to send (``@endpoint``) or
the list to walk (``@pages``). The decorator makes of it the method each client
needs (a ``Method``): on ``Client``'s resources it sends and returns the result,
on ``AsyncClient``'s it is a coroutine function (an async iterator for a walk).
``search`` builds its two methods from the same parts (``sending``,
``walking``), with types of their own.

The two ways are a resource's type parameter (``Blocking``, ``Awaiting``), so a
type checker sees ``(customer_id: str) -> Customer`` on ``Client`` and
``(customer_id: str) -> Coroutine[Any, Any, Customer]`` on ``AsyncClient``.
At run time each client has its own subclass of each resource (``for_client``),
on which ``inspect`` and ``help()`` find plain or coroutine functions with the
method's signature and docstring.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import MethodType
from typing import (
    Any,
    ClassVar,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
    get_args,
    get_type_hints,
    overload,
)

from klatch.client._base import Call, Walk
from klatch.client.models import Page

P = ParamSpec("P")
T = TypeVar("T")
B_co = TypeVar("B_co", covariant=True)
A_co = TypeVar("A_co", covariant=True)
R = TypeVar("R", bound="Endpoints[Any]")


class Blocking:
    """The way of ``Client``'s resources: a method returns its result."""


class Awaiting:
    """The way of ``AsyncClient``'s: a method's result is awaited."""


M = TypeVar("M", Blocking, Awaiting)


class Sender(Protocol):
    """What a resource asks of its client (``Client`` or ``AsyncClient``)."""

    def send(self, call: Call[Any], /) -> Any: ...

    def walk(self, call: Call[Page[Any]], /) -> Any: ...

    def _walk(self, walk: Walk, /) -> Any: ...


class Endpoints(Generic[M]):
    """A resource of one client (``client.customers``, …): a group of its
    methods, which block or are awaited as ``M`` says."""

    _awaits: ClassVar[bool] = False

    def __init__(self, client: Sender) -> None:
        self._client = client


@functools.cache
def for_client(resource: type[R], client: type[Sender]) -> type[R]:
    """``resource`` as ``client``'s: a subclass whose methods block, or are
    coroutine functions, as ``client.send`` is."""
    namespace = {
        "_awaits": inspect.iscoroutinefunction(client.send),
        "__doc__": resource.__doc__,
        "__module__": resource.__module__,
        "__qualname__": resource.__qualname__,
    }
    # type() cannot say that what it makes is a subclass of ``resource``.
    return cast("type[R]", type(resource.__name__, (resource,), namespace))


class Method(Generic[B_co, A_co]):
    """A resource method made into one function for each way: looked up on a
    resource class it is that class's function, on a resource it is bound to
    it. ``B_co`` and ``A_co`` are what a type checker sees on each client."""

    def __init__(self, blocking: Callable[..., Any], awaiting: Callable[..., Any]) -> None:
        self._blocking = blocking
        self._awaiting = awaiting

    @overload
    def __get__(self, resource: None, owner: type[Endpoints[Any]]) -> Callable[..., Any]: ...
    @overload
    def __get__(self, resource: Endpoints[Blocking], owner: type[Endpoints[Any]]) -> B_co: ...
    @overload
    def __get__(self, resource: Endpoints[Awaiting], owner: type[Endpoints[Any]]) -> A_co: ...
    def __get__(self, resource: Endpoints[Any] | None, owner: type[Endpoints[Any]]) -> Any:
        function = self._awaiting if owner._awaits else self._blocking
        return function if resource is None else MethodType(function, resource)


def like(function: Callable[..., Any], build: Callable[..., Any], returns: Any) -> None:
    """Give ``function`` the name, docstring and signature of ``build``, which
    it runs, but ``returns`` for what it returns. The annotations are read as
    types, so a method's may only name what its module imports at run time."""
    functools.update_wrapper(function, build)
    signature = inspect.signature(build, eval_str=True)
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=returns
    )


def answer(build: Callable[..., Any]) -> Any:
    """What the call ``build`` returns is answered with (``Customer`` for a
    ``Call[Customer]``; None for a ``Call[None]``)."""
    (answered,) = get_args(get_type_hints(build)["return"])
    return None if answered is type(None) else answered


def sending(build: Callable[..., Call[Any]]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The two functions of a method that sends the call ``build`` describes and
    returns its result: plain, and a coroutine function."""

    def blocking(resource: Endpoints[Blocking], *args: Any, **kwargs: Any) -> Any:
        return resource._client.send(build(resource, *args, **kwargs))

    async def awaiting(resource: Endpoints[Awaiting], *args: Any, **kwargs: Any) -> Any:
        return await resource._client.send(build(resource, *args, **kwargs))

    like(blocking, build, answer(build))
    like(awaiting, build, answer(build))
    return blocking, awaiting


def walking(build: Callable[..., Walk]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The two functions of a method that runs the walk ``build`` makes: a
    generator of what it hands out, and an async generator."""

    def blocking(resource: Endpoints[Blocking], *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from resource._client._walk(build(resource, *args, **kwargs))

    async def awaiting(
        resource: Endpoints[Awaiting], *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for found in resource._client._walk(build(resource, *args, **kwargs)):
            yield found

    like(blocking, build, Iterator[Any])
    like(awaiting, build, AsyncIterator[Any])
    return blocking, awaiting


def endpoint(
    build: Callable[Concatenate[Any, P], Call[T]],
) -> Method[Callable[P, T], Callable[P, Coroutine[Any, Any, T]]]:
    """A method that sends the call ``build`` describes and returns its result."""
    return Method(*sending(build))


def pages(
    build: Callable[Concatenate[Any, P], Call[Page[T]]],
) -> Method[Callable[P, Iterator[T]], Callable[P, AsyncIterator[T]]]:
    """A method that walks every page of the list ``build`` describes, along
    ``links.next``: an iterator of the items (async on ``AsyncClient``)."""

    def blocking(resource: Endpoints[Any], *args: Any, **kwargs: Any) -> Any:
        return resource._client.walk(build(resource, *args, **kwargs))

    # The same work (the client's walk is async or not), under another signature.
    def awaiting(resource: Endpoints[Any], *args: Any, **kwargs: Any) -> Any:
        return blocking(resource, *args, **kwargs)

    item: Any = get_args(answer(build))[0]  # Customer, of a Call[Page[Customer]]
    like(blocking, build, Iterator[item])
    like(awaiting, build, AsyncIterator[item])
    return Method(blocking, awaiting)
