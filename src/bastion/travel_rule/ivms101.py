"""IVMS101 (interVASP Messaging Standard 101) as pydantic models with the standard's own JSON field names, so a
counterparty's `originator` / `beneficiary` parse unchanged and ours go out in the shape every implementation reads.

Validated on the way in (codes from the standard's enumerations, ISO 3166 country codes, bounded lengths), and
personal data never reaches a log: the models' repr/str are redacted and validation errors never echo the input.
A single name object where the standard allows 1..n (some implementations send `"name": {...}`) is accepted and
kept as a one-element list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import MaxLen, MinLen
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Str35 = Annotated[str, MinLen(1), MaxLen(35)]
Str50 = Annotated[str, MinLen(1), MaxLen(50)]
Str70 = Annotated[str, MinLen(1), MaxLen(70)]
Str100 = Annotated[str, MinLen(1), MaxLen(100)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

NaturalPersonNameType = Literal["ALIA", "BIRT", "MAID", "LEGL", "MISC"]
LegalPersonNameType = Literal["LEGL", "SHRT", "TRAD"]
AddressType = Literal["HOME", "BIZZ", "GEOG"]
NationalIdentifierType = Literal["ARNU", "CCPT", "RAID", "DRLC", "FIIN", "TXID", "SOCS", "IDCD", "LEIX", "MISC"]


class _Ivms(BaseModel):
    # hide_input_in_errors: a refused message's error names the field, never the personal data it held.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<personal data>)"

    __str__ = __repr__

    def as_ivms(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, dict) else v


class NaturalPersonNameId(_Ivms):
    primaryIdentifier: Str100
    secondaryIdentifier: Str100 | None = None
    nameIdentifierType: NaturalPersonNameType


class LocalNaturalPersonNameId(_Ivms):
    primaryIdentifier: Str100
    secondaryIdentifier: Str100 | None = None
    nameIdentifierType: NaturalPersonNameType


class NaturalPersonName(_Ivms):
    nameIdentifier: list[NaturalPersonNameId] = Field(min_length=1, max_length=10)
    localNameIdentifier: list[LocalNaturalPersonNameId] | None = Field(default=None, max_length=10)
    phoneticNameIdentifier: list[LocalNaturalPersonNameId] | None = Field(default=None, max_length=10)


class Address(_Ivms):
    addressType: AddressType
    department: Str50 | None = None
    subDepartment: Str70 | None = None
    streetName: Str70 | None = None
    buildingNumber: Annotated[str, MinLen(1), MaxLen(16)] | None = None
    buildingName: Str35 | None = None
    floor: Annotated[str, MinLen(1), MaxLen(70)] | None = None
    postBox: Annotated[str, MinLen(1), MaxLen(16)] | None = None
    room: Annotated[str, MinLen(1), MaxLen(70)] | None = None
    postCode: Annotated[str, MinLen(1), MaxLen(16)] | None = None
    townName: Str35
    townLocationName: Str35 | None = None
    districtName: Str35 | None = None
    countrySubDivision: Str35 | None = None
    addressLine: list[Str70] | None = Field(default=None, max_length=7)
    country: Country


class NationalIdentification(_Ivms):
    nationalIdentifier: Str35
    nationalIdentifierType: NationalIdentifierType
    countryOfIssue: Country | None = None
    registrationAuthority: Annotated[str, Field(pattern=r"^RA\d{6}$")] | None = None


class DateAndPlaceOfBirth(_Ivms):
    dateOfBirth: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    placeOfBirth: Str70


class NaturalPerson(_Ivms):
    name: list[NaturalPersonName] = Field(min_length=1, max_length=5)
    geographicAddress: list[Address] | None = Field(default=None, max_length=5)
    nationalIdentification: NationalIdentification | None = None
    customerIdentification: Str50 | None = None
    dateAndPlaceOfBirth: DateAndPlaceOfBirth | None = None
    countryOfResidence: Country | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _one_name(cls, v: Any) -> Any:
        return _listify(v)


class LegalPersonNameId(_Ivms):
    legalPersonName: Str100
    legalPersonNameIdentifierType: LegalPersonNameType


class LocalLegalPersonNameId(_Ivms):
    legalPersonName: Str100
    legalPersonNameIdentifierType: LegalPersonNameType


class LegalPersonName(_Ivms):
    nameIdentifier: list[LegalPersonNameId] = Field(min_length=1, max_length=10)
    localNameIdentifier: list[LocalLegalPersonNameId] | None = Field(default=None, max_length=10)
    phoneticNameIdentifier: list[LocalLegalPersonNameId] | None = Field(default=None, max_length=10)


class LegalPerson(_Ivms):
    name: LegalPersonName
    geographicAddress: list[Address] | None = Field(default=None, max_length=5)
    customerNumber: Str50 | None = None
    nationalIdentification: NationalIdentification | None = None
    countryOfRegistration: Country | None = None


class Person(_Ivms):
    """Exactly one of a natural person or a legal person."""

    naturalPerson: NaturalPerson | None = None
    legalPerson: LegalPerson | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Person:
        if (self.naturalPerson is None) == (self.legalPerson is None):
            raise ValueError("a person is exactly one of naturalPerson or legalPerson")
        return self


class Originator(_Ivms):
    originatorPersons: list[Person] = Field(min_length=1, max_length=10)
    accountNumber: list[Annotated[str, MinLen(1), MaxLen(100)]] | None = Field(default=None, max_length=10)


class Beneficiary(_Ivms):
    beneficiaryPersons: list[Person] = Field(min_length=1, max_length=10)
    accountNumber: list[Annotated[str, MinLen(1), MaxLen(100)]] | None = Field(default=None, max_length=10)


class OriginatingVASP(_Ivms):
    originatingVASP: Person


class BeneficiaryVASP(_Ivms):
    beneficiaryVASP: Person


class TransferPath(_Ivms):
    transferPath: list[dict[str, Any]] = Field(default_factory=list, max_length=10)


class PayloadMetadata(_Ivms):
    transliterationMethod: list[str] | None = Field(default=None, max_length=20)


class IdentityPayload(_Ivms):
    """The IVMS101 identity payload a Travel Rule message carries."""

    originator: Originator
    beneficiary: Beneficiary
    originatingVASP: OriginatingVASP | None = None
    beneficiaryVASP: BeneficiaryVASP | None = None
    transferPath: TransferPath | None = None
    payloadMetadata: PayloadMetadata | None = None


def vasp_person(name: str, lei: str) -> Person:
    """A VASP as IVMS101 describes it: a legal person with its LEI as national identification."""
    return Person(
        legalPerson=LegalPerson(
            name=LegalPersonName(
                nameIdentifier=[LegalPersonNameId(legalPersonName=name, legalPersonNameIdentifierType="LEGL")]
            ),
            nationalIdentification=NationalIdentification(nationalIdentifier=lei, nationalIdentifierType="LEIX"),
        )
    )
