"""Import a file of contacts through the batch API.

source.py    read CSV or JSON Lines as a stream of records, hashing the bytes on the way
mapping.py   columns to contact fields and custom attributes, values to the types Intercom wants
rows.py      each record checked with the service's own ContactRequest; duplicates within the file
ledger.py    every row's state in a scratch SQLite file, so memory stays flat; the results file
chunks.py    chunks of up to 1,000 rows and the idempotency key of each
problems.py  what stops an import, each with a code and what to do
"""
