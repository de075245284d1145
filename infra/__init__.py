"""Infrastructure as code: the CloudFormation merged into `chalice package`, its build and its measures.

- `infra.template`: the merge template, generated from the project's sources of truth (PynamoDB
  models, Cognito pool settings, HDS region allow-list, Settings); a package, one module per
  resource family.
- `infra.build`: `python -m infra.build` packages the app for one HDS region and stage.
- `infra.bytecode`: precompiles the deployment zip and rewrites it deterministically.
- `infra.measure`: zip size and cold import time of the packaged app (for `make bench`).
"""
