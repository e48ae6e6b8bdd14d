"""Import a file of contacts through the batch API.

source.py    read CSV or JSON Lines as a stream of records, hashing the bytes on the way
mapping.py   columns to contact fields and custom attributes, values to the types Intercom wants
problems.py  what stops an import, each with a code and what to do
"""
