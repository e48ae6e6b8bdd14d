"""Import a file of contacts through the batch API.

source.py    read CSV or JSON Lines as a stream of records, hashing the bytes on the way
problems.py  what stops an import, each with a code and what to do
"""
