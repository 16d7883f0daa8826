"""The transforms over a DynamicFrameCollection, as AWS documents them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection
from awsglue.transforms.transform import GlueTransform


class SelectFromCollection(GlueTransform):
    """One frame of a collection, by its key."""

    def __call__(
        self,
        dfc: DynamicFrameCollection,
        key: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return dfc.select(key, transformation_ctx)


class MapToCollection(GlueTransform):
    """A transform applied to every frame of a collection."""

    def __call__(
        self,
        dfc: DynamicFrameCollection,
        callable: Callable[..., DynamicFrame],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        return dfc.map(callable, transformation_ctx)


class FlatMap(GlueTransform):
    """A transform class applied to every frame of a collection (``BaseTransform.apply(frame_name=frame, ...)``)."""

    def __call__(
        self,
        dfc: DynamicFrameCollection,
        BaseTransform: type[GlueTransform],
        frame_name: str,
        transformation_ctx: str = "",
        **base_kwargs: Any,
    ) -> DynamicFrameCollection:
        def apply(frame: DynamicFrame, ctx: str) -> Any:
            return BaseTransform.apply(**{frame_name: frame, "transformation_ctx": ctx, **base_kwargs})

        return dfc.flatmap(apply, transformation_ctx)
