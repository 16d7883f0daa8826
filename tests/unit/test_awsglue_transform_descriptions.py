"""The transform classes describe themselves as AWS's do, without Spark (the transforms themselves:
tests/component/test_awsglue_transforms.py)."""

from __future__ import annotations

from awsglue.transforms import ApplyMapping


def test_transform_classes_describe_themselves_as_aws_documents() -> None:
    description = ApplyMapping.describe()["transform"]
    assert (description["name"], description["location"]) == ("ApplyMapping", "internal")
    assert [a["name"] for a in description["args"]][:2] == ["frame", "mappings"]
    assert description["args"][2] == {
        "name": "case_sensitive", "type": "bool", "description": "", "optional": True, "defaultValue": "False",
    }  # fmt: skip
