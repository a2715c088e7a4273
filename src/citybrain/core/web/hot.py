"""Hot API routes: the few GET routes systems call thousands of times a second (governed lookups).

A FastAPI route with query parameters and a dependency spends about 100 µs per call resolving
them (a dependency tree solved per request, each parameter looked up and validated on its own),
and about 30 µs more validating and serialising its response model: as much as the governed
lookup's own work. A hot route instead takes the request alone, validates its path and query
parameters in one pydantic call against one model, authorises the caller from the credential
cache, and writes its response model straight to JSON bytes. It stays a FastAPI route with the
same OpenAPI description (parameters, security, response schema) and the same problem+json
errors (401/403 first, then 422 with each bad parameter's location), so callers see no difference.

Use it only where the call rate justifies it; every other route uses plain FastAPI parameters
and ``require``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import CACHED_SECURITY, authorise_cached

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _is_list(annotation: Any) -> bool:
    """Whether a field takes a repeated query parameter (``list[str]`` or ``list[str] | None``)."""
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(typing.get_origin(a) is list for a in typing.get_args(annotation))
    return False


class Parameters(Generic[P]):
    """A hot route's path and query parameters as one pydantic model.

    Fields named in the path template are path parameters, the others query parameters (a
    ``list`` field takes the parameter repeated). Unknown query parameters are ignored, as FastAPI
    does.
    """

    def __init__(self, model: type[P], path: str) -> None:
        self.model = model
        self.in_path = frozenset(_PATH_PARAM.findall(path))
        self.lists = frozenset(name for name, f in model.model_fields.items() if _is_list(f.annotation))
        missing = self.in_path - set(model.model_fields)
        if missing:
            raise TypeError(f"{model.__name__} lacks the path parameters {sorted(missing)}")

    def parse(self, request: Request) -> P:
        """The validated parameters, or :class:`RequestValidationError` (rendered as a 422 problem
        naming each parameter, exactly as for ordinary routes)."""
        query = request.query_params
        data: dict[str, Any] = {}
        for name in self.model.model_fields:
            if name in self.in_path:
                data[name] = request.path_params[name]
            elif name in self.lists:
                if name in query:
                    data[name] = query.getlist(name)
            elif name in query:
                data[name] = query[name]
        try:
            return self.model.model_validate(data)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("path" if e["loc"][0] in self.in_path else "query", *e["loc"])} for e in error.errors()]
            ) from None

    def openapi(self) -> list[dict[str, Any]]:
        """The OpenAPI parameter objects FastAPI would have written for the same parameters."""
        schema = self.model.model_json_schema()
        parameters = []
        for name, prop in schema.get("properties", {}).items():
            info = self.model.model_fields[name]
            prop = {k: v for k, v in prop.items() if k != "default" or v is not None}
            parameter: dict[str, Any] = {
                "name": name,
                "in": "path" if name in self.in_path else "query",
                "required": name in self.in_path or info.is_required(),
                "schema": prop,
            }
            if info.description:
                parameter["description"] = info.description
            parameters.append(parameter)
        return parameters


def hot_get(
    router: APIRouter, path: str, *, scope: str, params: type[P], response: type[R]
) -> Callable[[Callable[[Request, Principal, P], Awaitable[R]]], Callable[[Request], Awaitable[Response]]]:
    """Register ``handler(request, principal, params) -> response model`` as a hot GET route.

    The caller must be authenticated (bearer token or API key, from the credential cache) and hold
    ``scope``; then ``params`` are validated; the handler's docstring documents the route.
    """
    parameters = Parameters(params, router.prefix + path)
    serializer = response.__pydantic_serializer__

    def register(handler: Callable[[Request, Principal, P], Awaitable[R]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            principal = await authorise_cached(request, scope)
            result = await handler(request, principal, parameters.parse(request))
            return Response(serializer.to_json(result), media_type="application/json")

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        endpoint.citybrain_requirement = scope  # type: ignore[attr-defined]
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            response_model=None,
            responses={200: {"model": response, "description": "Successful Response"}},
            openapi_extra={**CACHED_SECURITY, "parameters": parameters.openapi()},
        )
        return endpoint

    return register
