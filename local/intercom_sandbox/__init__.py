"""A stateful Intercom contacts API on loopback, for tests, the local stack and benchmarks.

It behaves as Intercom does where this service depends on it (auth, Accept, versions, 409 on a
duplicate user, rate-limit headers and 429s, error lists) and validates every request body against
Intercom's official schema, vendored in `schema/` (see its README). Faults can be injected from
Python or over HTTP, so a person can break it on purpose while `make run` is up.

    with IntercomSandbox(token="t") as sandbox:   # sandbox.url: http://127.0.0.1:<port>
        sandbox.fail_next(2, 503)                 # also delay_next, drop_next, set_latency,
        ...                                       # set_failure_rate, set_rate_limit, rotate_token
        sandbox.contacts, sandbox.requests        # what Intercom holds, what it was sent
        sandbox.companies, sandbox.tags           # by Intercom's id
        sandbox.route_counts()["POST /tags"]      # requests by route

Intercom's routes: `POST /contacts`, `GET /contacts`, `GET`/`PUT /contacts/{id}`,
`POST /contacts/{id}/unarchive`, `POST /contacts/search`, `GET`/`POST /data_attributes`,
`POST /companies` (create or update by `company_id`), `GET /companies` (`?company_id=` or `?name=`: that
company, else 404 `company_not_found`; neither: all), `POST /contacts/{id}/companies` (`{"id"}`),
`POST /tags` (`{"name"}`: the tag of that name, case-insensitively, else a new one), `GET /tags`,
`POST /contacts/{id}/tags` (`{"id"}`); `GET /contacts/{id}` lists the contact's companies and tags as
Intercom's does (the first 10, `total_count`, `has_more`). Search takes
the schema's `AND`/`OR` groups (nested, mixed with filters), `=` on any field (emails
case-insensitive), and `=`, `>`, `<` on timestamps, which Intercom matches by calendar day (UTC here);
an operator Intercom refuses is a 400, and so is one it accepts but the sandbox does not implement.

Control routes (no token needed):
- `POST /_sandbox/faults` `{"kind": "fail", "status": 503, "count": 1}`; kind `delay` takes
  `seconds` and `after_handling` (true: the request is handled at once and only its answer comes
  late, as when Intercom created the contact but the client stopped waiting), kind `drop` takes
  `mid_response`. Without `path` a fault meets the next requests under `/contacts`; with one
  (`{"kind": "fail", "path": "/tags", "status": 503, "count": 2}`) only those to that path or route
  (`/contacts/{id}/tags`). `DELETE /_sandbox/faults` clears them all.
- `POST /_sandbox/rate-limit` `{"limit": 100, "window_seconds": 1}` (`limit` null: Intercom's).
- `POST /_sandbox/failure-rate` `{"probability": 0.05, "status": 500, "seed": 11}`.
- `POST /_sandbox/search-lag` `{"seconds": 120}`: a contact created from then on shows in search
  only that much later, as Intercom's eventually consistent search does (also the constructor's
  `search_lag_seconds` and `set_search_lag()`; `reset()` sets it back to 0). Seeded contacts are
  old: search finds them at once.
- `POST /_sandbox/attributes` `{"name": "tier", "data_type": "string", "api_writable": true}` (both
  optional, as shown): the workspace gets that custom attribute, as Intercom's UI would create it
  (also `define_custom_attribute()`; `reset()` forgets it).

Companies and tags answer the errors their operations document (`schema/companies_tags_operations`):
an unknown body field is 400 `bad_request` "bad 'x' parameter", an attach without an id 400
`parameter_not_found`, an unknown company 404 `company_not_found`, the 1,001st company of a contact 400
`contact_company_limit_exceeded`, a bad tag body 400 "invalid tag parameters", tagging an unknown
contact or tag 404 `not_found` ("User Not Found", "Resource Not Found"). Where the spec is silent the
sandbox assumes: attaching a company already attached, or applying a tag already applied, answers 200
as the first time (the tag with its first `applied_at`) and changes nothing; `company_id` is required
(400 `parameter_not_found`); attaching to an unknown contact is the 404 "User Not Found" of
`GET /contacts/{id}/companies`; a company's custom attributes take any JSON scalar and need not be
defined first, and a float `monthly_spend` is truncated (as the spec's examples and notes say, where its
schema says string and integer). `POST /tags` does not rename tags or tag companies or users (400
saying so), and the contact's `/companies` and `/tags` lists are not served.

Custom attributes are typed, as Intercom's are (`DEFAULT_CUSTOM_ATTRIBUTES` at start): a contact's
`custom_attributes` sent to `POST`/`PUT /contacts` must name attributes that exist and are
`api_writable`, with values of their type (string; integer and float within 64 bits; boolean; date as
Unix seconds; a list's option), else `400 parameter_invalid` naming `custom_attributes.<name>`.
`POST /data_attributes` validates its body by the vendored schema and answers the documented 400s
(duplicate, invalid or standard name, bad type, too few options) and the limit of 250.
- `GET /_sandbox/requests`: method, path, route (`POST /contacts/{id}/tags`), status and JSON body of
  every request so far; in Python `sandbox.requests`, and `sandbox.route_counts()` counts them by route.

HTTPS: `IntercomSandbox(tls=True)` (CLI `--tls`) serves https://127.0.0.1:<port> with a certificate
for 127.0.0.1 and localhost made at start and deleted at stop; a client trusts `sandbox.ca_file`
(through SSL_CERT_FILE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE or urllib3's `ca_certs`).

Modules: `schemas` (the vendored excerpts as validators), `state` (contacts, duplicates, search, the
rate-limit window), `companies_tags` (companies, tags, what is attached to or applied to whom),
`faults`, `server` (HTTP and the `IntercomSandbox` lifecycle), `tls`, `__main__` (CLI:
`python -m local.intercom_sandbox --port 8111`).
"""

from local.intercom_sandbox.server import IntercomSandbox, RecordedRequest
from local.intercom_sandbox.state import DEFAULT_CUSTOM_ATTRIBUTES

__all__ = ["DEFAULT_CUSTOM_ATTRIBUTES", "IntercomSandbox", "RecordedRequest"]
