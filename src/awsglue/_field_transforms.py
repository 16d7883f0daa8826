"""The field transforms of a DynamicFrame: select, drop, rename, cast and nest fields, and resolve choice types."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Self

from pyspark.sql import Column
from pyspark.sql import functions as F

from awsglue import _frame as fr
from awsglue import _reshape as rs
from awsglue import gluetypes as gt
from awsglue._frame_base import FrameBase

log = logging.getLogger("awsglue")


class FieldTransforms(FrameBase):
    """Transforms of a frame's fields (its schema); each a Spark projection."""

    def apply_mapping(
        self,
        mappings: Sequence[Sequence[str]],
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """Select, rename, cast and nest fields in one pass: (source, source type, target, target type) each.

        A value that does not cast becomes null; a dotted target builds structs; fields not mapped are dropped."""
        data = self._data
        schema = data.df.schema
        targets: list[tuple[fr.Path, Column]] = []
        for mapping in mappings:
            if len(mapping) != 4:
                raise ValueError(f"a mapping is (source, source type, target, target type), got {mapping!r}")
            source_text, source_type, target_text, target_type = mapping
            gt.parse_type_name(source_type)  # an unknown type name is an error even where it is not needed
            target = gt.to_spark(gt.parse_type_name(target_type))
            target_path = fr.parse_path(target_text)
            if fr.ARRAY in target_path:
                raise fr.PathError(f"apply_mapping: targets inside arrays are not supported ({target_text!r})")
            source = rs.find_path(schema, fr.parse_path(source_text), case_sensitive)
            if source is None:
                log.warning("apply_mapping: no field %r in the frame; mapping skipped", source_text)
                continue
            if fr.ARRAY in source:
                raise fr.PathError(f"apply_mapping: sources inside arrays are not supported ({source_text!r})")
            targets.append((target_path, rs.cast_value(data, source, target)))
        return self._next(fr.FrameData(data.df.select(*rs.nested_columns(targets))), (), stageThreshold, totalThreshold)

    def drop_fields(
        self,
        paths: Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """The frame without the fields at ``paths`` (a path that is not there is left alone)."""
        data = self._data
        for text in rs.as_list(paths):
            path = fr.parse_path(text)
            if fr.type_at(data.df.schema, path) is None:
                continue
            if len(path) == 1:
                df = data.df.drop(path[0])
            else:
                df = fr.rewrite(data.df, path, lambda value, data_type, name: [])
            data = data.with_df(df, fr.without_under(data.choices, path))
        return self._next(data, (), stageThreshold, totalThreshold)

    def select_fields(
        self,
        paths: Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """Only the fields at ``paths`` (a nested path keeps its parents with only that field)."""
        data = self._data
        wanted = [p for p in (fr.parse_path(text) for text in rs.as_list(paths)) if fr.type_at(data.df.schema, p)]
        for path in wanted:
            if fr.ARRAY in path:
                raise fr.PathError(f"select_fields: paths into arrays are not supported ({fr.format_path(path)!r})")
        columns = rs.selected_columns(fr.top, data.df.schema, wanted)
        kept = [c for c in data.choices if any(fr.is_under(c, p) for p in wanted)]
        return self._next(data.with_df(data.df.select(*columns), kept), (), stageThreshold, totalThreshold)

    def rename_field(
        self,
        oldName: str,
        newName: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """The field at ``oldName`` moved to ``newName`` (both full paths; backticks around names with dots)."""
        data = self._data
        old, new = fr.parse_path(oldName), fr.parse_path(newName)
        if fr.type_at(data.df.schema, old) is None:
            return self._next(data, (), stageThreshold, totalThreshold)
        if old[:-1] == new[:-1]:  # same parent: a rename in place keeps the field's position
            last = new[-1]
            df = fr.rewrite(data.df, old, lambda value, data_type, name: [value.alias(last)])
        else:
            if fr.ARRAY in old or fr.ARRAY in new:
                raise fr.PathError(f"rename_field: moving a field across arrays is not supported ({oldName!r})")
            # Added at its new place while the old one can still be read, then removed from the old place.
            df = rs.insert_at(data.df, new, fr.value_at(old))
            df = df.drop(old[0]) if len(old) == 1 else fr.rewrite(df, old, lambda v, t, n: [])
        raw = {new[0] if len(old) == 1 and name == old[0] and len(new) == 1 else name for name in data.raw}
        renamed = fr.FrameData(df, fr.moved(data.choices, old, new), frozenset(raw) & set(df.columns))
        return self._next(renamed, (), stageThreshold, totalThreshold)

    def resolveChoice(
        self,
        specs: Sequence[tuple[str, str]] | None = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id: str | None = None,
        option: str = "",
    ) -> Self:
        """Resolve choice types: per path (``specs``: [(path, action)]) or every choice (``choice``: action).

        Actions: ``cast:<type>`` (every value cast; null where it does not cast), ``project:<type>`` (only values
        of that type kept), ``make_cols`` (``<name>_<type>`` columns), ``make_struct`` (a struct of the types),
        ``match_catalog`` (cast to the type of the catalog table's column; needs database and table_name)."""
        choice = choice or option  # older releases called it option
        if specs is not None and choice:
            raise ValueError("resolveChoice takes specs or choice, not both")
        if specs is None and not choice:
            if not (database and table_name):
                raise ValueError("resolveChoice needs specs, choice, or database and table_name (match_catalog)")
            choice = "match_catalog"
        actions = [(fr.parse_path(path), action) for path, action in specs or []]
        for path, action in actions:
            rs.check_action(action, fr.format_path(path))
        if choice:
            rs.check_action(choice, "choice")
        data = self._data
        if choice or any(not a.startswith(("cast:", "project:")) for _, a in actions):
            data = data.typed()
        if choice:
            actions = [(path, choice) for path in sorted(data.choices, key=len)]
        catalog: dict[str, str] = {}
        if any(action == "match_catalog" for _, action in actions):
            if not (database and table_name):
                raise ValueError("resolveChoice: match_catalog needs database and table_name")
            from awsglue import _catalog

            catalog = _catalog.column_types(self.glue_ctx._client("glue"), database, table_name, catalog_id)
        # Independent paths are rewritten in one projection; a path inside one already pending waits for it.
        pending: dict[fr.Path, fr.Rewrite] = {}
        choices, raw = set(data.choices), set(data.raw)
        for path, action in actions:
            if any(fr.is_under(path, other) or fr.is_under(other, path) for other in pending):
                data, pending = rs.apply(data, pending, choices, raw), {}
            if fr.type_at(data.df.schema, path) is None:
                if choice:
                    continue  # a choice inside one resolved before it (make_cols) is gone
                raise fr.PathError(f"resolveChoice: field {fr.format_path(path)!r} not found")
            replace, kind = rs.resolution(data, path, action, catalog)
            if kind == "make_struct":
                choices.discard(path)
            elif kind != "unchanged":
                choices -= {c for c in choices if fr.is_under(c, path)}
                if len(path) == 1:
                    raw.discard(path[0])
            if replace is not None:
                pending[path] = replace
        return self._next(rs.apply(data, pending, choices, raw), (), stageThreshold, totalThreshold)

    def unnest(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """Nested struct fields become top-level fields named by their path (``a.b``); choices stay whole."""
        data = self._data.typed()
        columns = [fr.value_at(path).alias(".".join(path)) for path in rs.unnest_paths(data.df.schema, data.choices)]
        choices = [(".".join(c),) for c in data.choices if fr.ARRAY not in c]
        return self._next(
            fr.FrameData(data.df.select(*columns), frozenset(choices)), (), stageThreshold, totalThreshold
        )

    def drop_null_fields(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """The frame without the fields that are null (or missing) in every record."""
        data = self._data.typed()
        leaves = [p for p in fr.leaf_paths(data.df.schema) if p]
        if not leaves:
            return self._next(data, (), stageThreshold, totalThreshold)
        row = data.df.agg(
            *[F.max(fr.value_at(p).isNotNull().cast("int")).alias(f"f{i}") for i, p in enumerate(leaves)]
        ).first()
        assert row is not None
        empty = [p for i, p in enumerate(leaves) if row[f"f{i}"] != 1]
        frame = self._next(data)
        dropped = frame.drop_fields([fr.format_path(p) for p in empty]) if empty else frame
        return self._next(rs.drop_empty_structs(dropped._data), (), stageThreshold, totalThreshold)
