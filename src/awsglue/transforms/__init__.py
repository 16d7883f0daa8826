"""``from awsglue.transforms import *``: every transform class AWS documents for DynamicFrames."""

from awsglue.transforms.collection_transforms import FlatMap, MapToCollection, SelectFromCollection
from awsglue.transforms.field_transforms import (
    ApplyMapping,
    DropFields,
    DropNullFields,
    ErrorsAsDynamicFrame,
    Filter,
    Join,
    Map,
    Relationalize,
    RenameField,
    ResolveChoice,
    SelectFields,
    Spigot,
    SplitFields,
    SplitRows,
    Unbox,
    UnnestFrame,
)
from awsglue.transforms.transform import GlueTransform

__all__ = [
    "ApplyMapping",
    "DropFields",
    "DropNullFields",
    "ErrorsAsDynamicFrame",
    "Filter",
    "FlatMap",
    "GlueTransform",
    "Join",
    "Map",
    "MapToCollection",
    "Relationalize",
    "RenameField",
    "ResolveChoice",
    "SelectFields",
    "SelectFromCollection",
    "Spigot",
    "SplitFields",
    "SplitRows",
    "Unbox",
    "UnnestFrame",
]
