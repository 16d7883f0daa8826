"""GlueTransform: the base of every ``awsglue.transforms`` class (``Transform.apply(frame=..., ...)``)."""

from __future__ import annotations

import inspect
from typing import Any


class GlueTransform:
    """A transform is called through ``apply`` (a new instance called with the arguments) or as an instance."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        return cls()(*args, **kwargs)

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self.name()} does not implement __call__")

    @classmethod
    def describeArgs(cls) -> list[dict[str, Any]]:
        """The arguments of ``__call__``, in the shape AWS documents."""
        described = []
        for parameter in list(inspect.signature(cls.__call__).parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            optional = parameter.default is not inspect.Parameter.empty
            described.append(
                {
                    "name": parameter.name,
                    "type": str(parameter.annotation) if parameter.annotation is not inspect.Parameter.empty else "",
                    "description": "",
                    "optional": optional,
                    "defaultValue": repr(parameter.default) if optional else None,
                }
            )
        return described

    @classmethod
    def describeReturn(cls) -> dict[str, str]:
        return {"type": "DynamicFrame", "description": f"the result of {cls.name()}"}

    @classmethod
    def describeTransform(cls) -> str:
        return (cls.__doc__ or cls.name()).strip().splitlines()[0]

    @classmethod
    def describeErrors(cls) -> list[dict[str, str]]:
        return []

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "transform": {
                "name": cls.name(),
                "args": cls.describeArgs(),
                "returns": cls.describeReturn(),
                "raises": cls.describeErrors(),
                "location": "internal",
            }
        }
