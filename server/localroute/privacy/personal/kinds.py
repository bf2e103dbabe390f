"""The kinds of identifier the detector names, and the validators it checks them with.

python-stdnum's validators are imported on first use: most documents never hold a
candidate, and every request pays for what is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def _validator(module: str) -> Callable[[str], bool]:
    """python-stdnum's ``is_valid`` of ``stdnum.<module>``, imported on first use: most
    documents never hold a candidate, and every request pays for what is imported."""
    found: list[Callable[[str], bool]] = []

    def is_valid(value: str) -> bool:
        if not found:
            found.append(importlib.import_module(f"stdnum.{module}").is_valid)
        return found[0](value)

    return is_valid


LUHN_VALID = _validator("luhn")
IBAN_VALID = _validator("iban")
SSN = _validator("us.ssn")
SIN = _validator("ca.sin")
BSN = _validator("nl.bsn")
NHS = _validator("gb.nhs")
IDNR = _validator("de.idnr")
CPF = _validator("br.cpf")
AADHAAR = _validator("in_.aadhaar")
NIR = _validator("fr.nir")
DNI_VALID = _validator("es.dni")
PAN_VALID = _validator("in_.pan")
CF_VALID = _validator("it.codicefiscale")
NIE_VALID = _validator("es.nie")

CARD = "payment card number"
IBAN = "IBAN"
US_SSN = "US social security number"
UK_NHS = "UK NHS number"
CA_SIN = "Canadian social insurance number"
DE_TAX_ID = "German tax ID"
FR_NIR = "French social security number"
ES_DNI = "Spanish DNI"
ES_NIE = "Spanish NIE"
NL_BSN = "Dutch citizen service number"
IN_AADHAAR = "Indian Aadhaar number"
IN_PAN = "Indian PAN"
BR_CPF = "Brazilian CPF number"
IT_FISCAL_CODE = "Italian fiscal code"
