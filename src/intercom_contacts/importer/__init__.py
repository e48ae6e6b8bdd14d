"""Import a file of contacts through the batch API; `intercom-contacts import FILE` (cli.py) is its shell.

source.py    read CSV or JSON Lines as a stream of records, hashing the bytes on the way
mapping.py   columns to contact fields and custom attributes, values to the types Intercom wants
rows.py      each record checked with the service's own ContactRequest; duplicates within the file
ledger.py    every row's state in a scratch SQLite file, so memory stays flat; the results file
scratch.py   the scratch directory, and removing those of imports that were killed
chunks.py    chunks of up to 1,000 rows and the idempotency key of each
client.py    the batch API over urllib3, with retries
run.py       read and check, then send, follow and retry: one import from start to end
progress.py  the live progress bar, or a line every few seconds when not on a terminal
report.py    the dry run's report and the summary
target.py    where to send: options, environment, a deployed stack, or the local one
problems.py  what stops an import, each with a code and what to do
"""
