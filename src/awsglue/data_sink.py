"""DataSink: ``glueContext.getSink(...)``, ``setFormat``, optionally ``setCatalogInfo``, then ``writeFrame``.

With ``enableUpdateCatalog=True`` and catalog info, the partitions written are registered in the catalog (and
the table created when it does not exist), as AWS documents for updating the catalog from a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from awsglue import _io

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection


class DataSink:
    def __init__(
        self,
        glue_context: GlueContext,
        connection_type: str,
        format: str | None,
        transformation_ctx: str,
        options: dict[str, Any],
    ) -> None:
        self._glue_context = glue_context
        self._connection_type = connection_type
        self._format = format
        self._format_options: dict[str, Any] = {}
        self._transformation_ctx = transformation_ctx
        self._options = dict(options)
        self._catalog: dict[str, Any] = {}

    def setFormat(self, format: str, **options: Any) -> None:
        self._format = format
        self._format_options = dict(options)

    def setCatalogInfo(self, catalogDatabase: str, catalogTableName: str, catalogId: str | None = None) -> None:
        self._catalog = {"database": catalogDatabase, "table_name": catalogTableName, "catalog_id": catalogId}

    def setAccumulableSize(self, size: int) -> None:
        """Glue's accumulator size for error records: nothing to size locally."""

    def writeFrame(self, dynamic_frame: DynamicFrame, info: str = "") -> DynamicFrame:
        options = dict(self._options)
        if self._catalog:
            if self._connection_type.lower() not in _io.FILE_TYPES:
                raise _io.UnsupportedOptionError(f"setCatalogInfo with a {self._connection_type} sink is not supported")
            path = options.pop("path", None)
            return _io.write_to_catalog(
                self._glue_context,
                dynamic_frame,
                self._catalog["database"],
                self._catalog["table_name"],
                options,
                self._catalog["catalog_id"],
                {},
                data_format=self._format,
                path=path,
                format_options=self._format_options,
            )
        for key in ("enableUpdateCatalog", "updateBehavior"):
            options.pop(key, None)  # without catalog info there is no table to update
        return self._glue_context.write_dynamic_frame.from_options(
            dynamic_frame, self._connection_type, options, self._format, self._format_options, self._transformation_ctx
        )

    def write(self, dynamic_frame_or_dfc: DynamicFrame | DynamicFrameCollection, info: str = "") -> Any:
        from awsglue.dynamicframe import DynamicFrameCollection

        if isinstance(dynamic_frame_or_dfc, DynamicFrameCollection):
            return [self.writeFrame(frame, info) for frame in dynamic_frame_or_dfc.values()]
        return self.writeFrame(dynamic_frame_or_dfc, info)
