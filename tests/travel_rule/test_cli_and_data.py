"""`bastion travel-rule ...` (directory, identity, rules, prices, sweep), LEI check digits, and IVMS101 as another
system writes it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.errors import InvalidInputError
from bastion.travel_rule import directory, ivms101
from bastion.travel_rule import rules as tr_rules

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


def test_vasps_add_list_remove_and_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"BASTION_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "k.json").write_text(json.dumps(JWK))
    base = ["travel-rule", "vasps", "add", "--name", "Beta", "--endpoint", "https://beta.example",
            "--jwk", str(tmp_path / "k.json"), "--jurisdiction", "EU"]  # fmt: skip
    r = runner.invoke(app, [*base, "--lei", "529900T8BM49AURSDO56"], env=env)  # last check digit wrong
    assert r.exit_code == 2 and "lei: not a valid LEI (ISO 17442)" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, [*base, "--lei", "529900T8BM49AURSDO55", "--address", "nocolon"], env=env)
    assert r.exit_code == 2 and "--address 1: chain:address" in r.output
    r = runner.invoke(app, [*base, "--lei", "529900t8bm49aursdo55", "--address", "ethereum:0xAB" + "0" * 38], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--lei", "529900T8BM49AURSDO55"], env=env)
    assert r.exit_code == 2 and "already in the directory" in r.output
    r = runner.invoke(app, ["travel-rule", "vasps", "list", "--json"], env=env)
    listed = json.loads(r.stdout)
    assert listed[0]["lei"] == "529900T8BM49AURSDO55" and listed[0]["addresses"] == ["ethereum:0xab" + "0" * 38]
    assert listed[0]["public_jwk"] == JWK
    ident = json.loads(runner.invoke(app, ["travel-rule", "identity", "--json"], env=env).stdout)
    assert ident["public_jwk"]["kty"] == "OKP" and "d" not in ident["public_jwk"]  # never the private part
    r = runner.invoke(app, ["travel-rule", "prices", "set", "ETH", "EUR", "abc"], env=env)
    assert r.exit_code == 2 and "price: not a number" in r.output
    bad_rules = tmp_path / "rules.json"
    bad_rules.write_text(json.dumps({"rules": [{"id": "x1", "jurisdiction": "EU", "counterparty": "self_hosted",
                                                "direction": "in", "threshold": "1", "currency": "EUR",
                                                "requires": ["ownership_proof"]}]}))  # fmt: skip
    r = runner.invoke(app, ["travel-rule", "rules", "load", str(bad_rules)], env=env)
    assert r.exit_code == 2 and "row 1" in r.output and "self_hosted" in r.output, r.output
    r = runner.invoke(app, ["travel-rule", "sweep", "--now", "2030-01-01T00:00:00+00:00"], env=env)
    assert r.exit_code == 0 and "returned 0" in r.output
    r = runner.invoke(app, ["travel-rule", "vasps", "remove", "529900T8BM49AURSDO55"], env=env)
    assert r.exit_code == 0
    assert json.loads(runner.invoke(app, ["travel-rule", "vasps", "list", "--json"], env=env).stdout) == []


def test_lei_check_digits() -> None:
    assert directory.validate_lei(" 5299000j2n45ddne4y28 ") == "5299000J2N45DDNE4Y28"
    for bad in ("5299000J2N45DDNE4Y29", "5299000J2N45DDNE4Y2", "5299000J2N45DDNE4Y2!"):
        with pytest.raises(InvalidInputError, match="lei"):
            directory.validate_lei(bad)


def test_an_ivms101_payload_from_another_system_parses_unchanged() -> None:
    # As a TRP implementation sends it: a single `name` object, local names, a legal-person beneficiary VASP.
    theirs = {
        "originator": {"originatorPersons": [{"naturalPerson": {
            "name": {"nameIdentifier": [{"primaryIdentifier": "Müller", "secondaryIdentifier": "Jörg",
                                         "nameIdentifierType": "LEGL"}],
                     "localNameIdentifier": [{"primaryIdentifier": "MUELLER", "nameIdentifierType": "LEGL"}]},
            "geographicAddress": [{"addressType": "GEOG", "addressLine": ["Hauptstr. 1", "10115 Berlin"],
                                   "townName": "Berlin", "country": "DE"}],
            "customerIdentification": "c-991", "countryOfResidence": "DE"}}],
            "accountNumber": ["0x" + "ab" * 20]},
        "beneficiary": {"beneficiaryPersons": [{"legalPerson": {"name": {"nameIdentifier": [
            {"legalPersonName": "Acme Ltd", "legalPersonNameIdentifierType": "LEGL"}]}}}],
            "accountNumber": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"]},
        "beneficiaryVASP": {"beneficiaryVASP": {"legalPerson": {"name": {"nameIdentifier": [
            {"legalPersonName": "Beta Exchange", "legalPersonNameIdentifierType": "LEGL"}]},
            "nationalIdentification": {"nationalIdentifier": "529900T8BM49AURSDO55",
                                       "nationalIdentifierType": "LEIX"}}}},
    }  # fmt: skip
    parsed = ivms101.IdentityPayload.model_validate(theirs)
    out = parsed.as_ivms()
    assert out["beneficiary"] == theirs["beneficiary"] and out["beneficiaryVASP"] == theirs["beneficiaryVASP"]
    person = out["originator"]["originatorPersons"][0]["naturalPerson"]
    assert person["name"] == [theirs["originator"]["originatorPersons"][0]["naturalPerson"]["name"]]  # 1..n kept
    assert "Müller" not in repr(parsed) and "Müller" not in str(parsed.originator)
    with pytest.raises(ValueError) as exc:
        ivms101.Person.model_validate({"naturalPerson": person, "legalPerson": theirs["beneficiary"]
                                       ["beneficiaryPersons"][0]["legalPerson"]})  # fmt: skip
    assert "exactly one" in str(exc.value) and "Müller" not in str(exc.value)


def test_rules_pick_the_most_specific_and_convert_with_the_days_price() -> None:
    from datetime import date

    ruleset = tr_rules.parse_ruleset(tr_rules.DEFAULT_RULESET)
    prices = tr_rules.Prices.of([(date(2026, 1, 1), "ETH", "EUR", Decimal(3000)),
                                 (date(2026, 6, 1), "ETH", "EUR", Decimal(1000)),
                                 (date(2026, 1, 1), "USD", "EUR", Decimal("0.9"))])  # fmt: skip

    def judge(j: str, kind: str, direction: str, amount: str, day: date, **kw: Decimal) -> tr_rules.Verdict:
        return tr_rules.judge(ruleset, prices, jurisdiction=j, counterparty_jurisdiction="US", counterparty=kind,
                              direction=direction, asset="ETH", amount=Decimal(amount), day=day, **kw)  # fmt: skip

    assert judge("EU", "vasp", "out", "0.0001", date(2026, 2, 1)).rule.id == "eu_vasp"  # type: ignore[union-attr]
    assert judge("EU", "vasp", "out", "0.0001", date(2026, 2, 1)).applies  # from the first euro
    assert judge("SG", "vasp", "out", "0.2", date(2026, 2, 1), amount_usd=Decimal(660)).applies is False  # FATF
    # EUR 1,500 on 1 February (3,000 a coin), EUR 500 in July (1,000 a coin): the day's price decides
    assert judge("EU", "self_hosted", "out", "0.5", date(2026, 2, 1)).requires == ("ownership_proof",)
    assert judge("EU", "self_hosted", "out", "0.5", date(2026, 7, 1)).applies is False
    assert judge("SG", "self_hosted", "out", "100", date(2026, 2, 1)).rule is None  # FATF: no such rule
    # no price for the day at all: applied rather than skipped
    assert judge("EU", "self_hosted", "out", "0.5", date(2025, 12, 1)).applies
