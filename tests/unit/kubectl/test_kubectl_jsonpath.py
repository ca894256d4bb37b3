"""kubectl's JSONPath template dialect: parsing, evaluation and printing as kubectl does."""

from __future__ import annotations

import pytest

from kubectl.custom_columns import ColumnsError, parse_file, parse_spec, row
from kubectl.jsonpath import JsonPathError, parse, relaxed

POD_LIST = {
    "apiVersion": "v1", "kind": "List",
    "items": [
        {"metadata": {"name": "web-a", "labels": {"app": "web", "tier": "front"}},
         "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                                 {"name": "log", "image": "busybox"}]},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"metadata": {"name": "db-b", "labels": {"app": "db"}},
         "spec": {"containers": [{"name": "db", "image": "postgres:16", "ports": [{"containerPort": 5432}]}]},
         "status": {"phase": "Pending"}},
    ],
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{.kind}", "List"),
    ("{.items[*].metadata.name}", "web-a db-b"),
    ("{.items[0].metadata.name}", "web-a"),
    ("{.items[-1].metadata.name}", "db-b"),
    ("{.items[0:1].metadata.name}", "web-a"),
    ("{.items[1:].metadata.name}", "db-b"),
    ("{.items[0:2:2].metadata.name}", "web-a"),
    ("{.items[0,1].metadata.name}", "web-a db-b"),
    ("{.items[0].metadata['name']}", "web-a"),
    ('{.items[?(@.status.phase=="Running")].metadata.name}', "web-a"),
    ('{.items[?(@.status.phase!="Running")].metadata.name}', "db-b"),
    ("{.items[?(@.spec.containers[0].ports[0].containerPort>100)].metadata.name}", "db-b"),
    ("{.items[?(@.status.conditions)].metadata.name}", "web-a"),
    ("{..image}", "nginx:1.25 busybox postgres:16"),
    ("{.items[0].spec.containers[*].name}", "web log"),
    ("{.items[0].metadata.labels}", '{"app":"web","tier":"front"}'),
    ("{.items[1].spec.containers[0].ports[0].containerPort}", "5432"),
    ("{.items[0].metadata.missing}", ""),
    ("names: {.items[*].metadata.name}!", "names: web-a db-b!"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}', "web-a\tRunning\ndb-b\tPending\n"),
    ("{range .items[*]}[{range .spec.containers[*]}{.name};{end}]{end}", "[web;log;][db;]"),
    ("{range .items[*]}{@.metadata.name} {end}", "web-a db-b "),
])
def test_templates_print_as_kubectl_does(template: str, expected: str) -> None:
    assert parse(template).render(POD_LIST) == expected


def test_at_sign_alone_is_the_whole_object_as_json() -> None:
    assert parse("{@}").render({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_dotted_label_keys_are_escaped() -> None:
    data = {"metadata": {"labels": {"app.kubernetes.io/name": "shop"}}}
    assert parse("{.metadata.labels.app\\.kubernetes\\.io/name}").render(data) == "shop"


@pytest.mark.parametrize(("template", "error"), [
    ("{.metadata.name", "error parsing jsonpath {.metadata.name, unclosed action"),
    ("{.items[}", "error parsing jsonpath {.items[}, unterminated array"),
    ("{.items[x]}", "error parsing jsonpath {.items[x]}, invalid array index x"),
    ('{.items[?(@.a=="b"]}', 'error parsing jsonpath {.items[?(@.a=="b"]}, unterminated filter'),
    ("{end}", "error parsing jsonpath {end}, not in range, nothing to end"),
    ("{.a}{#}", "error parsing jsonpath {.a}{#}, unrecognized character in action: U+0023 '#'"),
    ("{....a}", "error parsing jsonpath {....a}, invalid multiple recursive descent"),
])
def test_malformed_templates_are_one_kubectl_line(template: str, error: str) -> None:
    with pytest.raises(JsonPathError) as caught:
        parse(template)
    assert str(caught.value) == error


def test_errors_while_executing_name_the_template() -> None:
    with pytest.raises(JsonPathError) as caught:
        parse("{.items[5].metadata.name}").render(POD_LIST)
    assert str(caught.value) == ('error executing jsonpath "{.items[5].metadata.name}": Error executing template: '
                                 "array index out of bounds: index 5, length 2")


def test_relaxed_paths_for_columns_and_sorting() -> None:
    assert relaxed("metadata.name") == relaxed(".metadata.name") == relaxed("{.metadata.name}") == "{.metadata.name}"
    with pytest.raises(JsonPathError, match="unexpected path string"):
        relaxed("{.a}{.b}")


def test_custom_columns_join_values_and_show_none() -> None:
    columns = parse_spec("NAME:.metadata.name,IMAGES:.spec.containers[*].image,TIER:.metadata.labels.tier")
    assert [c.header for c in columns] == ["NAME", "IMAGES", "TIER"]
    assert row(columns, POD_LIST["items"][0]) == ["web-a", "nginx:1.25,busybox", "front"]
    assert row(columns, POD_LIST["items"][1]) == ["db-b", "postgres:16", "<none>"]


def test_custom_columns_file_has_headers_then_paths() -> None:
    columns = parse_file("NAME   PHASE\n.metadata.name   {.status.phase}\n")
    assert row(columns, POD_LIST["items"][1]) == ["db-b", "Pending"]
    with pytest.raises(ColumnsError, match=r"number of headers \(1\) does not match number of specs \(2\)"):
        parse_file("NAME\n.metadata.name .status.phase\n")


@pytest.mark.parametrize(("spec", "error"), [
    ("", "custom-columns format specified but no custom columns given"),
    ("NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"),
    ("NAME:.metadata.name,BAD", "unexpected custom-columns spec: BAD, expected <header>:<json-path-expr>"),
    ("NAME:{.metadata.name", "unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                             "'{name1.name2}' or '{.name1.name2}'"),
    ("NAME:.items[", "error parsing jsonpath {.items[}, unterminated array"),
])
def test_malformed_custom_columns_specs(spec: str, error: str) -> None:
    with pytest.raises(ColumnsError) as caught:
        parse_spec(spec)
    assert str(caught.value) == error
