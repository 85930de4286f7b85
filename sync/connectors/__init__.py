"""Connectors: the only code that talks to the ends — Salesforce (`salesforce/`, simple-salesforce), Exchange
on-premises (`ews/`, exchangelib) and Exchange Online (`graph/`, msal and requests) — behind the protocols declared
in `protocols.py`; `exchange.py` holds what both Exchange protocols share and `base.py` the settings and errors."""
