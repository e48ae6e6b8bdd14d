"""The importer's company and tag columns (issue 20): what a row's company and tags become, the rows
refused for them, the options that name and add them, and what the results file shows of them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from intercom_contacts import cli
from intercom_contacts.importer.attributes import Workspace
from intercom_contacts.importer.chunks import row_key
from intercom_contacts.importer.ledger import Ledger
from intercom_contacts.importer.mapping import (
    ColumnMapping,
    RowRejected,
    parse_attribute_option,
    parse_map_option,
    parse_tag_options,
    read_mapping_file,
)
from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.progress import ProgressLines
from intercom_contacts.importer.rows import check
from intercom_contacts.importer.run import FileImport, ImportOptions
from intercom_contacts.importer.source import ContactFile, Record
from intercom_contacts.models.contact import OnConflict

COMPANY_HEADER = [
    "email",
    "company_id",
    "company_name",
    "company.plan",
    "company.size",
    "company.website",
    "company.industry",
    "company.monthly_spend",
    "company.remote_created_at",
    "company.custom_attributes.tier",
]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        yield ledger


def _contact(mapping: ColumnMapping, header: list[str], values: list[str]) -> dict[str, object]:
    mapping.use_header(header)
    return mapping.contact(dict(zip(header, values, strict=True)))


def _read(tmp_path: Path, ledger: Ledger, content: str, mapping: ColumnMapping | None = None) -> FileImport:
    path = tmp_path / "contacts.csv"
    path.write_text(content)
    options = ImportOptions(path, mapping or ColumnMapping())
    contact_file = ContactFile.open(path)
    options.mapping.use_header(contact_file.columns)
    job = FileImport(contact_file, options, ledger, ProgressLines(io.StringIO()))
    job.read()
    return job


def _results(ledger: Ledger, tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "contacts.csv.results.csv"
    ledger.write_results(path)
    with path.open(newline="", encoding="utf-8") as results:
        return list(csv.DictReader(results))


def test_company_columns_fill_one_company_each_value_in_its_fields_type() -> None:
    # Given a row with every company column, numbers and a date as a CSV has them
    values = [
        "a@example.com",
        "acme-1",
        "Acme",
        "pro",
        "12",
        "https://acme.example",
        "Software",
        "250",
        "2024-05-01",
        "gold",
    ]
    # When it becomes a contact
    contact = _contact(ColumnMapping(), COMPANY_HEADER, values)
    # Then the contact has one company: integers, the date in Unix seconds, its attribute nested
    assert contact["companies"] == [
        {
            "company_id": "acme-1",
            "name": "Acme",
            "plan": "pro",
            "size": 12,
            "website": "https://acme.example",
            "industry": "Software",
            "monthly_spend": 250,
            "remote_created_at": 1714521600,
            "custom_attributes": {"tier": "gold"},
        }
    ]
    assert contact["email"] == "a@example.com"


def test_crm_headers_of_a_companys_id_name_and_fields_match_loosely_but_a_lone_company_is_not_sent() -> None:
    # Given a CRM export's header naming the company's id, name and size, and a bare "Company"
    header = ["Email", "Company ID", "Company Name", "Company Size", "Company"]
    mapping = ColumnMapping()
    # When a row becomes a contact
    contact = _contact(mapping, header, ["a@example.com", "acme-1", "Acme", "40", "Acme Inc"])
    # Then the first three fill the company, and "Company" (no id could go with it) is not sent
    assert contact["companies"] == [{"company_id": "acme-1", "name": "Acme", "size": 40}]
    assert mapping.not_sent == ["Company"]
    assert "  Company ID    -> company_id" in mapping.header_lines(header)


def test_a_row_with_company_fields_but_no_company_id_is_rejected_naming_its_columns() -> None:
    # Given a row whose company_id cell is empty while its company's name and plan are filled
    record = Record(
        3, {"email": "a@example.com", "company_id": "", "company_name": "Acme", "company.plan": "pro"}
    )
    # When it is checked
    checked = check(record, ColumnMapping(default_role="user"))
    # Then it is rejected with its own code, naming the columns and what to do
    assert checked.body is None
    assert checked.code == "COMPANY_ID_MISSING"
    assert "company_name, company.plan but no company_id" in str(checked.message)
    assert "fill in the company_id column" in str(checked.message)


def test_an_empty_company_id_with_empty_company_fields_is_a_row_without_a_company() -> None:
    contact = _contact(ColumnMapping(), COMPANY_HEADER, ["a@example.com", "", "", "", "", "", "", "", "", ""])
    assert contact == {"email": "a@example.com", "role": "user"}


def test_company_values_that_do_not_convert_are_rejected_naming_each_column() -> None:
    # Given a row whose company size is a word and whose creation date is not a date
    mapping = ColumnMapping(default_role="user")
    # When it becomes a contact
    with pytest.raises(RowRejected) as rejected:
        mapping.contact({"company_id": "acme-1", "company.size": "many", "company.remote_created_at": "soon"})
    # Then both columns are named with what to write, as for any other column
    assert rejected.value.code == "INVALID_VALUE"
    assert "column company.size: 'many' is not a whole number" in rejected.value.message
    assert "column company.remote_created_at: 'soon' is not a date" in rejected.value.message


def test_a_company_value_the_request_model_refuses_is_a_validation_error_naming_the_field() -> None:
    record = Record(
        2, {"role": "user", "email": "a@example.com", "company_id": "acme-1", "company.size": "-3"}
    )
    checked = check(record, ColumnMapping())
    assert checked.code == "VALIDATION_ERROR"
    assert "companies.0.size" in str(checked.message)


def test_a_tags_column_is_split_at_semicolons_trimmed_and_its_empty_parts_dropped() -> None:
    contact = ColumnMapping(default_role="user").contact(
        {"email": "a@example.com", "tags": " vip ; beta;;  ;"}
    )
    assert contact["tags"] == ["vip", "beta"]


def test_the_tag_separator_changes_what_splits_a_tags_cell() -> None:
    mapping = ColumnMapping(default_role="user", tag_separator="|")
    assert mapping.contact({"email": "a@example.com", "Tags": "a;b|c"})["tags"] == ["a;b", "c"]


def test_tag_options_tag_every_row_after_its_own_tags_once_in_any_case() -> None:
    # Given --tag Imported --tag VIP
    mapping = ColumnMapping(default_role="user", tags=parse_tag_options([" Imported ", "VIP"]))
    # When rows with and without a tags cell are checked
    tagged = check(Record(2, {"email": "a@example.com", "tags": "vip;beta"}), mapping)
    untagged = check(Record(3, {"email": "b@example.com", "tags": ""}), mapping)
    # Then each carries its own tags then the options', one per name in any case
    assert tagged.body is not None
    assert untagged.body is not None
    assert json.loads(tagged.body)["tags"] == ["vip", "beta", "Imported"]
    assert json.loads(untagged.body)["tags"] == ["Imported", "VIP"]


@pytest.mark.parametrize("options", [[""], ["   "], ["x" * 101], [f"t{n}" for n in range(21)]])
def test_a_tag_option_no_contact_could_carry_is_a_usage_problem(options: list[str]) -> None:
    with pytest.raises(UsageProblem) as problem:
        parse_tag_options(options)
    assert problem.value.code == "INVALID_OPTION"
    assert "--tag" in problem.value.message


def test_too_many_tags_on_a_row_are_a_validation_error_naming_tags() -> None:
    record = Record(2, {"email": "a@example.com", "tags": ";".join(f"t{n}" for n in range(21))})
    checked = check(record, ColumnMapping(default_role="user"))
    assert checked.code == "VALIDATION_ERROR"
    assert "tags" in str(checked.message)


def test_map_options_send_any_column_as_a_companys_field_attribute_or_the_tags() -> None:
    # Given unusual headers, each named with --map, the company attribute typed with --attribute
    options = [
        "Account=company_id",
        "Org=company_name",
        "Tier=Company.Plan",
        "Seats=company.custom_attributes.seats",
        "Labels=tags",
    ]
    mapping = ColumnMapping(
        dict([parse_attribute_option("Seats:integer")]),
        fields=dict(parse_map_option(option) for option in options),
    )
    header = ["email", "Account", "Org", "Tier", "Seats", "Labels"]
    # When a row becomes a contact
    contact = _contact(mapping, header, ["a@example.com", "acme-1", "Acme", "pro", "40", "vip;beta"])
    # Then each column goes where --map says
    assert contact["companies"] == [
        {"company_id": "acme-1", "name": "Acme", "plan": "pro", "custom_attributes": {"seats": 40}}
    ]
    assert contact["tags"] == ["vip", "beta"]
    assert mapping.not_sent == []


def test_a_saved_mapping_of_company_and_tag_columns_reads_back_as_the_same_mapping(tmp_path: Path) -> None:
    # Given the mapping of a header with company and tag columns, some named by --map
    header = ["email", "Company ID", "Org", "company.custom_attributes.tier", "Labels"]
    fields = {"Org": "company_name", "Labels": "tags"}
    first = ColumnMapping(fields=fields)
    first.use_header(header)
    saved = tmp_path / "mapping.json"
    saved.write_text(json.dumps(first.header_fields(header)))
    # When it is read back as --mapping
    again = ColumnMapping(fields=read_mapping_file(saved))
    # Then it names the same fields, and a row becomes the same contact
    row = ["a@example.com", "acme-1", "Acme", "gold", "vip"]
    assert read_mapping_file(saved) == {
        "email": "email",
        "Company ID": "company_id",
        "Org": "company_name",
        "company.custom_attributes.tier": "company.custom_attributes.tier",
        "Labels": "tags",
    }
    assert _contact(again, header, row) == _contact(ColumnMapping(fields=fields), header, row)


def test_an_ignored_company_column_is_left_out() -> None:
    contact = _contact(
        ColumnMapping(ignored=["company_name"]), ["email", "company_name"], ["a@example.com", "Acme"]
    )
    assert "companies" not in contact


def test_two_columns_for_the_company_id_are_refused_saying_which_to_leave_out() -> None:
    with pytest.raises(UsageProblem) as problem:
        ColumnMapping().use_header(["email", "company_id", "Company ID"])
    assert problem.value.code == "AMBIGUOUS_COLUMNS"
    assert "all mean company_id" in problem.value.message


def test_a_map_option_with_a_company_field_that_does_not_exist_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem) as problem:
        parse_map_option("Tier=company.tier")
    assert problem.value.code == "INVALID_OPTION"
    assert "company.FIELD (plan, size, website" in problem.value.message


def test_json_lines_companies_and_tags_go_as_the_api_takes_them_with_the_tag_options_added() -> None:
    # Given a JSON Lines object with its companies and tags, and --tag Imported
    mapping = ColumnMapping(tags=("Imported",))
    values = {
        "role": "user",
        "email": "a@example.com",
        "companies": [{"company_id": "acme-1", "size": 12}],
        "tags": ["vip"],
    }
    # When it is checked
    checked = check(Record(1, values), mapping)
    # Then its body keeps them, the option's tag added
    assert checked.body is not None
    assert json.loads(checked.body) == {
        "role": "user",
        "email": "a@example.com",
        "companies": [{"company_id": "acme-1", "size": 12}],
        "tags": ["vip", "Imported"],
    }


def test_a_companies_column_of_text_is_rejected_saying_which_columns_give_a_company() -> None:
    with pytest.raises(RowRejected) as rejected:
        ColumnMapping(default_role="user").contact({"email": "a@example.com", "companies": "Acme"})
    assert rejected.value.code == "INVALID_VALUE"
    assert "company_id, company_name and company.FIELD" in rejected.value.message


def test_a_rows_key_changes_with_its_tags_and_its_company(tmp_path: Path) -> None:
    # Given one row checked as it is, with another tag, and with another company plan
    def key(values: dict[str, str], mapping: ColumnMapping | None = None) -> str:
        checked = check(
            Record(2, {"email": "a@example.com", **values}), mapping or ColumnMapping(default_role="user")
        )
        assert checked.body is not None
        return row_key(checked.body, checked.role, OnConflict.RETURN)

    row = {"company_id": "acme-1", "company.plan": "pro", "tags": "vip"}
    # Then each change is a different key, so the next run sends the row again; the same row keeps its key
    assert key(row) == key(dict(row))
    assert key(row) != key({**row, "tags": "vip;beta"})
    assert key(row) != key({**row, "company.plan": "enterprise"})
    assert key(row) != key(row, ColumnMapping(default_role="user", tags=("Imported",)))


def test_the_results_show_each_rows_company_id_and_tags_joined_with_the_separator(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a valid row with a company and tags, a duplicate of it, and a row refused for its company
    content = (
        "email,company_id,company_name,tags\n"
        "a@example.com,acme-1,Acme,vip|beta\n"
        "A@example.com,acme-2,Other,x\n"
        "b@example.com,,Acme,vip\n"
    )
    # When the file is read with --tag-separator '|' and --tag Imported, and the results written
    mapping = ColumnMapping(tags=("Imported",), tag_separator="|")
    _read(tmp_path, ledger, content, mapping)
    results = _results(ledger, tmp_path)
    # Then each row shows its company_id and its tags as sent, joined with '|'
    assert [(r["row"], r["status"], r["company_id"], r["tags"]) for r in results] == [
        ("2", "not_sent", "acme-1", "vip|beta|Imported"),
        ("3", "duplicate", "acme-2", "x|Imported"),
        ("4", "rejected", "", ""),
    ]


def test_a_company_id_or_tag_a_spreadsheet_would_run_is_written_as_text(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a row whose company_id and first tag start like formulas
    _read(tmp_path, ledger, 'email,company_id,tags\na@example.com,=1+1,"@SUM(1);ok"\n')
    # When the results are written, both cells start with a quote
    [result] = _results(ledger, tmp_path)
    assert (result["company_id"], result["tags"]) == ("'=1+1", "'@SUM(1);ok")


def test_results_written_before_company_id_and_tags_were_columns_are_still_read(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given the results of an earlier version, without company_id and tags, showing the row done
    path = tmp_path / "contacts.csv"
    path.write_text("email\na@example.com\n")
    checked = check(Record(2, {"email": "a@example.com"}), ColumnMapping(default_role="user"))
    assert checked.body is not None
    key = row_key(checked.body, "user", OnConflict.RETURN)
    old = tmp_path / "contacts.csv.results.csv"
    old.write_text(
        "row,email,external_id,status,contact_id,code,message,batch_id,batch_index,row_key\n"
        f"2,a@example.com,,created,c1,,,b1,0,{key}\n"
    )
    # When this version reads it and the file
    ledger.read_earlier_results(old)
    job = _read(tmp_path, ledger, "email\na@example.com\n")
    # Then the row is done, not sent again
    assert (job.carried, ledger.valid, ledger.done_before()) == (1, 0, 1)


def test_the_command_line_tags_every_row_and_splits_tags_at_its_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a row whose tags cell holds 21 names separated by '|', and one with two names
    path = tmp_path / "contacts.csv"
    many = "|".join(f"t{n}" for n in range(21))
    path.write_text(f"email,tags\na@example.com,{many}\nb@example.com,x|y\n")
    # When it is checked with --tag-separator '|' and --tag Imported
    code = cli.main(["import", str(path), "--dry-run", "--tag-separator", "|", "--tag", "Imported"])
    # Then the mapping says how tags are read and what every row gets, and the first row is refused for
    # its tags (22 of them), the second passes
    out = capsys.readouterr().out
    assert code == 1
    assert "tags (names separated by '|')" in out
    assert "every row is also tagged Imported: --tag" in out
    assert "row 2: VALIDATION_ERROR Invalid fields: tags" in out
    assert "2 rows, 1 valid, 1 rejected" in out


def test_the_command_line_refuses_an_empty_tag_before_reading_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("email\na@example.com\n")
    assert cli.main(["import", str(path), "--dry-run", "--tag", " "]) == 2
    assert "INVALID_OPTION: --tag" in capsys.readouterr().err


def test_a_typed_company_attribute_column_converts_and_is_not_checked_as_a_contacts_attribute() -> None:
    # Given a dry run against a workspace without contact attributes, and a company attribute column
    # typed with --attribute
    option = parse_attribute_option("company.custom_attributes.seats:integer")
    mapping = ColumnMapping(dict([option]), default_role="user", workspace=Workspace(lambda: {}))
    values = {"email": "a@example.com", "company_id": "acme-1", "company.custom_attributes.seats": "7"}
    # When a row becomes a contact
    contact = mapping.contact(values)
    # Then the value is converted, not refused as a contact attribute the workspace lacks, and
    # --create-attributes would not create it as one
    assert contact["companies"] == [{"company_id": "acme-1", "custom_attributes": {"seats": 7}}]
    assert list(mapping.attribute_cells(values)) == []
