"""DataSource: ``glueContext.getSource(connection_type, **options)``, then ``setFormat`` and ``getFrame``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame


class DataSource:
    def __init__(
        self, glue_context: GlueContext, connection_type: str, transformation_ctx: str, options: dict[str, Any]
    ) -> None:
        self._glue_context = glue_context
        self._connection_type = connection_type
        self._transformation_ctx = transformation_ctx
        self._options = dict(options)
        self._format: str | None = None
        self._format_options: dict[str, Any] = {}

    def setFormat(self, format: str, **options: Any) -> None:
        self._format = format
        self._format_options = dict(options)

    def getFrame(self, **options: Any) -> DynamicFrame:
        push_down_predicate = self._options.pop("push_down_predicate", "")
        return self._glue_context.create_dynamic_frame.from_options(
            self._connection_type,
            {**self._options, **options},
            self._format,
            self._format_options,
            self._transformation_ctx,
            push_down_predicate,
        )
